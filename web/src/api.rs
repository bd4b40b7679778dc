//! The thin GraphQL client: one function that posts a document and decodes `data`, and the
//! shapes of the data the views read.

use gloo_net::http::Request;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// What went wrong with a request, as the user should hear it.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Posts a GraphQL document to `/graphql` and decodes its `data` as `T`.
pub async fn graphql<T: DeserializeOwned>(query: &str, variables: Value) -> Result<T, ApiError> {
    let network = |e: gloo_net::Error| ApiError {
        code: None,
        message: format!("cannot reach the server: {e}"),
    };
    let response = Request::post("/graphql")
        .json(&json!({ "query": query, "variables": variables }))
        .map_err(network)?
        .send()
        .await
        .map_err(network)?;
    let body: Value = response.json().await.map_err(network)?;
    if let Some(error) = body["errors"].as_array().and_then(|e| e.first()) {
        return Err(ApiError {
            code: error["extensions"]["code"].as_str().map(str::to_owned),
            message: error["message"]
                .as_str()
                .unwrap_or("the server reported an error")
                .to_owned(),
        });
    }
    serde_json::from_value(body["data"].clone()).map_err(|e| ApiError {
        code: None,
        message: format!("unexpected answer from the server: {e}"),
    })
}

/// The signed-in person and their courses.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    pub courses: Vec<CourseCard>,
}

/// A course as the course list shows it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CourseCard {
    pub slug: String,
    pub name: String,
    pub term: String,
    pub viewer_role: Option<String>,
    pub counts: Counts,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Counts {
    pub students: i64,
    pub assignments: i64,
}

#[derive(Deserialize)]
struct MeData {
    me: Option<Me>,
}

/// The signed-in person, or `None`.
pub async fn me() -> Result<Option<Me>, ApiError> {
    let data: MeData = graphql(
        "{ me { login name avatarUrl courses { slug name term viewerRole counts { students assignments } } } }",
        json!({}),
    )
    .await?;
    Ok(data.me)
}

/// One course's page.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CourseDetail {
    pub name: String,
    pub term: String,
    pub viewer_role: Option<String>,
    pub assignments: Vec<AssignmentRow>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentRow {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub points: String,
    pub due_at: Option<String>,
    pub test_command: String,
    /// The viewer's own for a student; every linked one for staff.
    pub repositories: Vec<RepositoryRow>,
}

/// A linked repository with its latest build.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryRow {
    pub id: String,
    pub full_name: String,
    pub webhook_status: String,
    pub builds: Vec<BuildRow>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildRow {
    pub number: i32,
    pub status: String,
}

const REPOSITORY_FIELDS: &str = "id fullName webhookStatus builds(first: 1) { number status }";

#[derive(Deserialize)]
struct CourseData {
    course: CourseDetail,
}

pub async fn course(slug: &str) -> Result<CourseDetail, ApiError> {
    let data: CourseData = graphql(
        &format!("query($slug: String!) {{ course(slug: $slug) {{ name term viewerRole assignments {{ id slug title points dueAt testCommand repositories {{ {REPOSITORY_FIELDS} }} }} }} }}"),
        json!({ "slug": slug }),
    )
    .await?;
    Ok(data.course)
}

#[derive(Deserialize)]
struct SignInData {
    #[serde(rename = "signInOptions")]
    options: SignInOptions,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SignInOptions {
    pub dev_login: bool,
    pub github: bool,
}

pub async fn sign_in_options() -> Result<SignInOptions, ApiError> {
    let data: SignInData = graphql("{ signInOptions { devLogin github } }", json!({})).await?;
    Ok(data.options)
}

#[derive(Deserialize)]
struct JoinData {
    #[serde(rename = "joinCourse")]
    course: JoinedCourse,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct JoinedCourse {
    pub slug: String,
    pub name: String,
}

/// Redeems an invite code.
pub async fn join(code: &str) -> Result<JoinedCourse, ApiError> {
    let data: JoinData = graphql(
        "mutation($code: String!) { joinCourse(code: $code) { slug name } }",
        json!({ "code": code }),
    )
    .await?;
    Ok(data.course)
}

#[derive(Deserialize)]
struct LinkData {
    #[serde(rename = "linkRepository")]
    repository: RepositoryRow,
}

/// Links the viewer's GitHub repository `full_name` to an assignment.
pub async fn link_repository(
    assignment_id: &str,
    full_name: &str,
) -> Result<RepositoryRow, ApiError> {
    let data: LinkData = graphql(
        &format!("mutation($a: ID!, $name: String!) {{ linkRepository(assignmentId: $a, fullName: $name) {{ {REPOSITORY_FIELDS} }} }}"),
        json!({ "a": assignment_id, "name": full_name }),
    )
    .await?;
    Ok(data.repository)
}
