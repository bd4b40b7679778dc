//! The thin GraphQL client: one function that posts a document and decodes `data`, and the
//! shapes of the data the views read.

use gloo_net::http::Request;

/// Every document the client sends, from `web/graphql`, checked against `schema.graphql`
/// when the client is built (see `build.rs`).
pub mod documents {
    include!(concat!(env!("OUT_DIR"), "/documents.rs"));
}
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// What went wrong with a request, as the user should hear it.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: Option<String>,
    pub message: String,
    /// The input field the error is about (`testCommand`), when it is about one.
    pub field: Option<String>,
}

impl ApiError {
    /// Whether the session is gone (signed out elsewhere, or expired).
    pub fn is_unauthenticated(&self) -> bool {
        self.code.as_deref() == Some("UNAUTHENTICATED")
    }

    /// The message when it is about `field`.
    pub fn for_field(&self, field: &str) -> Option<String> {
        (self.field.as_deref() == Some(field)).then(|| self.message.clone())
    }
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
        field: None,
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
            field: error["extensions"]["field"].as_str().map(str::to_owned),
        });
    }
    serde_json::from_value(body["data"].clone()).map_err(|e| ApiError {
        code: None,
        message: format!("unexpected answer from the server: {e}"),
        field: None,
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
    /// The latest build the viewer may see in the course.
    pub latest_build: Option<LatestBuild>,
}

/// A course's latest build, as its card shows it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LatestBuild {
    pub id: String,
    pub number: i32,
    pub status: String,
    pub queued_at: String,
    pub repository: RepositoryRef,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Counts {
    pub students: i64,
    pub assignments: i64,
    #[serde(default)]
    pub tas: i64,
    #[serde(default)]
    pub instructors: i64,
}

#[derive(Deserialize)]
struct MeData {
    me: Option<Me>,
}

/// The signed-in person, or `None`.
pub async fn me() -> Result<Option<Me>, ApiError> {
    let data: MeData = graphql(documents::ME, json!({})).await?;
    Ok(data.me)
}

/// One course's page.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CourseDetail {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub term: String,
    pub viewer_role: Option<String>,
    pub viewer_is_staff: bool,
    pub viewer_can_edit: bool,
    pub counts: Counts,
    pub assignments: Vec<AssignmentRow>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentRow {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub points: String,
    pub due_at: Option<String>,
    pub image: String,
    pub test_command: String,
    pub timeout_seconds: i64,
    pub memory_mb: i64,
    pub cpu_millis: i64,
    pub report_path: Option<String>,
    pub late_policy: String,
    pub late_penalty_percent: String,
    pub grade_policy: String,
    #[serde(default)]
    pub has_hidden_tests: bool,
    pub hidden_tests_released_at: Option<String>,
    /// Staff only: whether the hidden tests are an uploaded archive, where they go and what
    /// runs them.
    pub hidden_tests_uploaded: Option<bool>,
    pub hidden_tests_path: Option<String>,
    pub hidden_tests_command: Option<String>,
    pub starter_repo: Option<String>,
    pub starter_ref: Option<String>,
    #[serde(default)]
    pub protected_paths: Vec<String>,
    pub graded_run_limit: Option<i64>,
    #[serde(default)]
    pub graded_run_period_hours: i64,
    /// The viewer's own graded runs against the limit.
    pub my_graded_runs: Option<GradedRuns>,
    /// On Kubernetes: `ASSIGNMENT` or `PER_BUILD`.
    #[serde(default)]
    pub image_source: String,
    /// The viewer's own for a student; every linked one for staff.
    pub repositories: Vec<RepositoryRow>,
}

/// Where the viewer stands against an assignment's limit on graded runs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GradedRuns {
    pub limit: i64,
    pub used: i64,
    pub left: i64,
    pub period_hours: i64,
    pub next_at: Option<String>,
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
    pub id: String,
    pub number: i32,
    pub status: String,
}

#[derive(Deserialize)]
struct CourseData {
    course: CourseDetail,
}

pub async fn course(slug: &str) -> Result<CourseDetail, ApiError> {
    let data: CourseData = graphql(documents::COURSE, json!({ "slug": slug })).await?;
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
    let data: SignInData = graphql(documents::SIGN_IN_OPTIONS, json!({})).await?;
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
    let data: JoinData = graphql(documents::JOIN_COURSE, json!({ "code": code })).await?;
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
        documents::LINK_REPOSITORY,
        json!({ "a": assignment_id, "name": full_name }),
    )
    .await?;
    Ok(data.repository)
}

/// A build as its page shows it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildDetail {
    pub id: String,
    pub number: i32,
    pub status: String,
    pub status_reason: Option<String>,
    pub trigger: String,
    pub branch: Option<String>,
    pub pull_request: Option<i32>,
    pub commit_sha: String,
    pub commit_message: String,
    pub commit_author: Option<String>,
    pub attempt: i32,
    pub retry_of: Option<String>,
    pub superseded_by: Option<String>,
    pub received_at: String,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub executor: Option<String>,
    pub exit_code: Option<i32>,
    pub cancel_requested: bool,
    pub queue_position: Option<i32>,
    pub tests_passed: Option<i32>,
    pub tests_failed: Option<i32>,
    pub tests_skipped: Option<i32>,
    pub score: Option<String>,
    pub max_score: Option<String>,
    pub late: bool,
    pub late_days: Option<i32>,
    pub score_before_penalty: Option<String>,
    pub report_format: Option<String>,
    pub report_problem: Option<String>,
    pub log_bytes: i64,
    pub log_truncated: bool,
    /// It ran hidden tests whose results the viewer may not see yet.
    #[serde(default)]
    pub hidden_tests_withheld: bool,
    /// The receipt: the hidden tests' digest and the image the tests ran in.
    pub hidden_tests_digest: Option<String>,
    pub image_digest: Option<String>,
    /// Protected files the commit changed.
    #[serde(default)]
    pub protected_edits: Vec<String>,
    #[serde(default = "yes")]
    pub graded_run: bool,
    pub ungraded_reason: Option<String>,
    pub repository: Option<RepositoryRef>,
}

fn yes() -> bool {
    true
}

impl BuildDetail {
    pub fn is_finished(&self) -> bool {
        !matches!(self.status.as_str(), "QUEUED" | "RUNNING")
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryRef {
    pub id: String,
    pub full_name: String,
}

#[derive(Deserialize)]
struct BuildData {
    build: BuildDetail,
}

pub async fn build(id: &str) -> Result<BuildDetail, ApiError> {
    let data: BuildData = graphql(documents::BUILD, json!({ "id": id })).await?;
    Ok(data.build)
}

/// One test of a build, as the results list shows it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    pub position: i32,
    pub suite: String,
    pub name: String,
    pub outcome: String,
    pub duration_ms: Option<i64>,
    pub message: Option<String>,
    pub points: Option<String>,
    pub max_points: Option<String>,
    /// One of the hidden tests (listed only to who may see them).
    #[serde(default)]
    pub hidden: bool,
}

/// A build's per-test results, in report order.
pub async fn test_results(id: &str) -> Result<Vec<TestResult>, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Build {
        test_results: Vec<TestResult>,
    }
    #[derive(Deserialize)]
    struct Data {
        build: Build,
    }
    let data: Data = graphql(documents::BUILD_TESTS, json!({ "id": id })).await?;
    Ok(data.build.test_results)
}

/// Queues a new attempt of a build; returns it.
pub async fn retry_build(id: &str) -> Result<BuildDetail, ApiError> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "retryBuild")]
        build: BuildDetail,
    }
    let data: Data = graphql(documents::RETRY_BUILD, json!({ "id": id })).await?;
    Ok(data.build)
}

/// Asks for a build to stop.
pub async fn cancel_build(id: &str) -> Result<BuildDetail, ApiError> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "cancelBuild")]
        build: BuildDetail,
    }
    let data: Data = graphql(documents::CANCEL_BUILD, json!({ "id": id })).await?;
    Ok(data.build)
}

/// One page of a repository's builds, with where builds came from.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryPage {
    pub id: String,
    pub full_name: String,
    pub default_branch: String,
    pub webhook_status: String,
    pub branches: Vec<String>,
    pub pull_requests: Vec<i32>,
    pub builds: Vec<BuildDetail>,
}

/// Which builds to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuildQuery {
    pub before: Option<i32>,
    pub status: Option<String>,
    pub branch: Option<String>,
    pub pull_request: Option<i32>,
}

/// Builds per page of the repository view.
pub const BUILDS_PER_PAGE: i32 = 25;

pub async fn repository(id: &str, query: &BuildQuery) -> Result<RepositoryPage, ApiError> {
    #[derive(Deserialize)]
    struct Data {
        repository: RepositoryPage,
    }
    let data: Data = graphql(
        documents::REPOSITORY,
        json!({ "id": id, "first": BUILDS_PER_PAGE, "before": query.before, "status": query.status,
                "branch": query.branch, "pr": query.pull_request }),
    )
    .await?;
    Ok(data.repository)
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user: Person,
    pub role: String,
    pub joined_at: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub id: String,
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
}

/// The course's roster as the viewer may see it.
pub async fn roster(slug: &str) -> Result<Vec<Member>, ApiError> {
    #[derive(Deserialize)]
    struct Course {
        members: Vec<Member>,
    }
    #[derive(Deserialize)]
    struct Data {
        course: Course,
    }
    let data: Data = graphql(documents::ROSTER, json!({ "slug": slug })).await?;
    Ok(data.course.members)
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InviteRow {
    pub id: String,
    pub join_url: String,
    pub role: String,
    pub state: String,
    pub expires_at: Option<String>,
    pub max_uses: Option<i32>,
    pub uses: i32,
    pub created_at: String,
}

/// The course's invites (staff only).
pub async fn invites(slug: &str) -> Result<Vec<InviteRow>, ApiError> {
    #[derive(Deserialize)]
    struct Course {
        invites: Vec<InviteRow>,
    }
    #[derive(Deserialize)]
    struct Data {
        course: Course,
    }
    let data: Data = graphql(documents::INVITES, json!({ "slug": slug })).await?;
    Ok(data.course.invites)
}

/// Creates an invite link for `role`, expiring after `days` (none: never) and usable
/// `max_uses` times (none: no limit).
pub async fn create_invite(
    course_id: &str,
    role: &str,
    expires_at: Option<String>,
    max_uses: Option<i32>,
) -> Result<InviteRow, ApiError> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "createInvite")]
        invite: InviteRow,
    }
    let input = json!({ "courseId": course_id, "role": role, "expiresAt": expires_at, "maxUses": max_uses });
    let data: Data = graphql(documents::CREATE_INVITE, json!({ "input": input })).await?;
    Ok(data.invite)
}

pub async fn revoke_invite(id: &str) -> Result<(), ApiError> {
    let _: Value = graphql(documents::REVOKE_INVITE, json!({ "id": id })).await?;
    Ok(())
}

/// A build changing state somewhere in a course, as the activity feed shows it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: String,
    pub number: i32,
    pub status: String,
    pub branch: Option<String>,
    pub pull_request: Option<i32>,
    pub commit_message: String,
    pub queued_at: String,
    pub repository: ActivityRepository,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActivityRepository {
    pub id: String,
    pub full_name: String,
    pub owner: Login,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Login {
    pub login: String,
}

/// Creates a course; the viewer becomes its instructor. Returns its slug.
pub async fn create_course(slug: &str, name: &str, term: &str) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    struct Created {
        slug: String,
    }
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "createCourse")]
        course: Created,
    }
    let input = json!({ "slug": slug, "name": name, "term": term });
    let data: Data = graphql(documents::CREATE_COURSE, json!({ "input": input })).await?;
    Ok(data.course.slug)
}

/// Renames a course or changes its term.
pub async fn update_course(id: &str, name: &str, term: &str) -> Result<(), ApiError> {
    let input = json!({ "name": name, "term": term });
    let _: Value = graphql(
        documents::UPDATE_COURSE,
        json!({ "id": id, "input": input }),
    )
    .await?;
    Ok(())
}

/// Creates an assignment from the form's fields (already shaped as the API's input).
pub async fn create_assignment(input: Value) -> Result<(), ApiError> {
    let _: Value = graphql(documents::CREATE_ASSIGNMENT, json!({ "input": input })).await?;
    Ok(())
}

/// Changes an assignment: the fields `input` names (shaped as the API's input).
pub async fn update_assignment(id: &str, input: Value) -> Result<(), ApiError> {
    let _: Value = graphql(
        documents::UPDATE_ASSIGNMENT,
        json!({ "id": id, "input": input }),
    )
    .await?;
    Ok(())
}

/// Uploads the file chosen in the file input `input_id` as assignment `id`'s hidden tests;
/// returns how many files it holds and its digest.
pub async fn upload_hidden_tests(id: &str, input_id: &str) -> Result<(i64, String), String> {
    use wasm_bindgen::JsCast as _;
    let file = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(input_id))
        .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
        .and_then(|input| input.files())
        .and_then(|files| files.get(0))
        .ok_or_else(|| "choose a .tar.gz of the hidden test files first".to_owned())?;
    let response = Request::put(&format!("/assignments/{id}/hidden-tests"))
        .header("content-type", "application/gzip")
        .body(wasm_bindgen::JsValue::from(file))
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| format!("cannot reach the server: {e}"))?;
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(body["error"]["message"]
            .as_str()
            .or_else(|| body["message"].as_str())
            .unwrap_or("the server refused the archive")
            .to_owned());
    }
    Ok((
        body["files"].as_i64().unwrap_or_default(),
        body["digest"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// Removes assignment `id`'s uploaded hidden tests.
pub async fn remove_hidden_tests(id: &str) -> Result<(), String> {
    let response = Request::delete(&format!("/assignments/{id}/hidden-tests"))
        .send()
        .await
        .map_err(|e| format!("cannot reach the server: {e}"))?;
    if response.ok() {
        Ok(())
    } else {
        Err(format!("the server refused: {}", response.status()))
    }
}

/// Shows an assignment's hidden tests' results to its students from now on.
pub async fn release_hidden_tests(id: &str) -> Result<(), ApiError> {
    let _: Value = graphql(documents::RELEASE_HIDDEN_TESTS, json!({ "id": id })).await?;
    Ok(())
}

/// A webhook delivery as GitHub's "Recent Deliveries" would list it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    pub delivery_id: Option<String>,
    pub event: String,
    pub action: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub status_code: i32,
    pub received_at: String,
    pub build_id: Option<String>,
}

/// The repository's recent webhook deliveries (staff only).
pub async fn deliveries(repository_id: &str) -> Result<Vec<Delivery>, ApiError> {
    #[derive(Deserialize)]
    struct Repository {
        deliveries: Vec<Delivery>,
    }
    #[derive(Deserialize)]
    struct Data {
        repository: Repository,
    }
    let data: Data = graphql(
        documents::REPOSITORY_DELIVERIES,
        json!({ "id": repository_id }),
    )
    .await?;
    Ok(data.repository.deliveries)
}

/// Queues builds of branch heads never built; how many.
pub async fn sync_repository(id: &str) -> Result<i64, ApiError> {
    let data: Value = graphql(documents::SYNC_REPOSITORY, json!({ "id": id })).await?;
    Ok(data["syncRepository"].as_i64().unwrap_or(0))
}

pub async fn repair_webhook(id: &str) -> Result<(), ApiError> {
    let _: Value = graphql(documents::REPAIR_WEBHOOK, json!({ "id": id })).await?;
    Ok(())
}

pub async fn unlink_repository(id: &str) -> Result<(), ApiError> {
    let _: Value = graphql(documents::UNLINK_REPOSITORY, json!({ "id": id })).await?;
    Ok(())
}

/// The course's grades (staff only).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct GradeMatrix {
    pub assignments: Vec<GradeColumn>,
    pub rows: Vec<GradeRow>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct GradeColumn {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub points: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct GradeRow {
    pub student: Person,
    pub total: String,
    /// In the order of the columns.
    pub cells: Vec<GradeCell>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GradeCell {
    pub assignment_id: String,
    pub repository_id: Option<String>,
    pub graded_build_id: Option<String>,
    pub score: Option<String>,
    pub max_score: Option<String>,
    pub late: bool,
    pub latest_build_id: Option<String>,
    pub latest_status: Option<String>,
    pub graded_status: Option<String>,
}

pub async fn grade_matrix(course_id: &str) -> Result<GradeMatrix, ApiError> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "gradeMatrix")]
        matrix: GradeMatrix,
    }
    let data: Data = graphql(documents::GRADE_MATRIX, json!({ "course": course_id })).await?;
    Ok(data.matrix)
}

/// Runs every student's grading build of an assignment again; the new builds' ids.
pub async fn regrade_assignment(assignment_id: &str) -> Result<Vec<String>, ApiError> {
    let data: Value = graphql(
        documents::REGRADE_ASSIGNMENT,
        json!({ "assignment": assignment_id }),
    )
    .await?;
    Ok(data["regradeAssignment"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["id"].as_str().map(str::to_owned))
        .collect())
}

/// What a regrade changed so far.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct RegradeSummary {
    pub pending: i64,
    pub unchanged: i64,
    pub changed: Vec<ScoreChange>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ScoreChange {
    pub before: Option<String>,
    pub after: Option<String>,
    pub build: ChangedBuild,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ChangedBuild {
    pub id: String,
    pub repository: RepositoryRef,
}

pub async fn regrade_summary(build_ids: &[String]) -> Result<RegradeSummary, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        regrade_summary: RegradeSummary,
    }
    let data: Data = graphql(documents::REGRADE_SUMMARY, json!({ "ids": build_ids })).await?;
    Ok(data.regrade_summary)
}

/// What the viewer hears by email about a course's builds.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MyNotifications {
    pub email: String,
    pub daily_digest: bool,
    pub source: String,
    pub email_enabled: bool,
    pub address: Option<String>,
}

/// A course's Slack channel as its instructors see it (never the URL itself).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SlackSettings {
    pub configured: bool,
    pub webhook_hint: Option<String>,
    pub when: String,
}

/// A channel whose messages did not go lately.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChannelProblem {
    pub channel: String,
    pub failures: i64,
    pub last_error: Option<String>,
    pub last_at: String,
}

/// A course's notification settings, as far as the viewer may see them.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CourseNotifications {
    pub id: String,
    pub my_notifications: MyNotifications,
    pub slack: Option<SlackSettings>,
    pub notification_problems: Vec<ChannelProblem>,
}

pub async fn course_notifications(slug: &str) -> Result<CourseNotifications, ApiError> {
    #[derive(Deserialize)]
    struct Data {
        course: CourseNotifications,
    }
    let data: Data = graphql(documents::COURSE_NOTIFICATIONS, json!({ "slug": slug })).await?;
    Ok(data.course)
}

pub async fn set_notification_preference(
    course_id: &str,
    email: &str,
    daily_digest: bool,
) -> Result<(), ApiError> {
    let _: Value = graphql(
        documents::SET_NOTIFICATION_PREFERENCE,
        json!({ "courseId": course_id, "email": email, "dailyDigest": daily_digest }),
    )
    .await?;
    Ok(())
}

/// Sets the course's Slack channel: `webhook_url` `Some("")` removes it, `None` keeps it.
pub async fn set_course_slack(
    course_id: &str,
    webhook_url: Option<&str>,
    when: &str,
) -> Result<(), ApiError> {
    let _: Value = graphql(
        documents::SET_COURSE_SLACK,
        json!({ "courseId": course_id, "webhookUrl": webhook_url, "when": when }),
    )
    .await?;
    Ok(())
}
