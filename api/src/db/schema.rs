// @generated automatically by Diesel CLI.

diesel::table! {
    assignments (id) {
        id -> Int8,
        course_id -> Int8,
        slug -> Text,
        title -> Text,
        description -> Text,
        image -> Text,
        test_command -> Text,
        timeout_seconds -> Int4,
        memory_mb -> Int4,
        cpu_millis -> Int4,
        points -> Numeric,
        due_at -> Nullable<Timestamptz>,
        allow_dockerfile -> Bool,
        allowed_branches -> Array<Nullable<Text>>,
        hidden_tests_repo -> Nullable<Text>,
        hidden_tests_ref -> Nullable<Text>,
        report_path -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        test_points -> Jsonb,
        late_policy -> Text,
        late_penalty_percent -> Numeric,
        grade_policy -> Text,
        hidden_tests_archive -> Nullable<Bytea>,
        hidden_tests_path -> Text,
        hidden_tests_command -> Nullable<Text>,
        hidden_released_at -> Nullable<Timestamptz>,
        starter_repo -> Nullable<Text>,
        starter_ref -> Nullable<Text>,
        protected_paths -> Array<Nullable<Text>>,
        graded_run_limit -> Nullable<Int4>,
        graded_run_period_hours -> Int4,
        image_source -> Text,
    }
}

diesel::table! {
    builds (id) {
        id -> Int8,
        repository_id -> Int8,
        course_id -> Int8,
        assignment_id -> Int8,
        number -> Int4,
        trigger -> Text,
        branch -> Nullable<Text>,
        pr_number -> Nullable<Int4>,
        commit_sha -> Text,
        commit_message -> Text,
        commit_author -> Nullable<Text>,
        triggered_by -> Nullable<Int8>,
        status -> Text,
        status_reason -> Nullable<Text>,
        attempt -> Int4,
        retry_of -> Nullable<Int8>,
        delivery_id -> Nullable<Text>,
        received_at -> Timestamptz,
        queued_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        worker_id -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        executor -> Nullable<Text>,
        exit_code -> Nullable<Int4>,
        cancel_requested_at -> Nullable<Timestamptz>,
        cancel_requested_by -> Nullable<Int8>,
        log_bytes -> Int8,
        log_truncated -> Bool,
        tests_passed -> Nullable<Int4>,
        tests_failed -> Nullable<Int4>,
        tests_skipped -> Nullable<Int4>,
        score -> Nullable<Numeric>,
        max_score -> Nullable<Numeric>,
        late -> Bool,
        created_at -> Timestamptz,
        recoveries -> Int4,
        superseded_by -> Nullable<Int8>,
        report_format -> Nullable<Text>,
        report_problem -> Nullable<Text>,
        late_days -> Nullable<Int4>,
        score_before_penalty -> Nullable<Numeric>,
        graded_run -> Bool,
        ungraded_reason -> Nullable<Text>,
        image_digest -> Nullable<Text>,
        hidden_tests_sha256 -> Nullable<Text>,
        hidden_passed -> Int4,
        hidden_failed -> Int4,
        hidden_skipped -> Int4,
        visible_score -> Nullable<Numeric>,
        protected_edits -> Array<Nullable<Text>>,
    }
}

diesel::table! {
    courses (id) {
        id -> Int8,
        slug -> Text,
        name -> Text,
        term -> Text,
        archived_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        slack_webhook -> Nullable<Bytea>,
        slack_webhook_hint -> Nullable<Text>,
        slack_when -> Text,
    }
}

diesel::table! {
    extensions (assignment_id, user_id) {
        assignment_id -> Int8,
        user_id -> Int8,
        due_at -> Timestamptz,
        granted_by -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    invites (id) {
        id -> Int8,
        course_id -> Int8,
        role -> Text,
        code -> Text,
        expires_at -> Nullable<Timestamptz>,
        max_uses -> Nullable<Int4>,
        uses -> Int4,
        revoked_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        dedupe_key -> Nullable<Text>,
        priority -> Int2,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        failed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    log_chunks (build_id, seq) {
        build_id -> Int8,
        seq -> Int4,
        stream -> Text,
        data -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    memberships (course_id, user_id) {
        course_id -> Int8,
        user_id -> Int8,
        role -> Text,
        invite_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    notification_preferences (id) {
        id -> Int8,
        user_id -> Int8,
        course_id -> Nullable<Int8>,
        email -> Text,
        daily_digest -> Bool,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    notifications (id) {
        id -> Int8,
        course_id -> Int8,
        build_id -> Nullable<Int8>,
        kind -> Text,
        channel -> Text,
        user_id -> Nullable<Int8>,
        idempotency_key -> Text,
        status -> Text,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        sending_since -> Nullable<Timestamptz>,
        sent_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    repositories (id) {
        id -> Int8,
        course_id -> Int8,
        assignment_id -> Int8,
        owner_id -> Int8,
        github_repo_id -> Int8,
        full_name -> Text,
        clone_url -> Text,
        default_branch -> Text,
        private -> Bool,
        webhook_id -> Nullable<Int8>,
        webhook_secret_encrypted -> Nullable<Bytea>,
        webhook_status -> Text,
        webhook_checked_at -> Nullable<Timestamptz>,
        next_build_number -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        unlinked_at -> Nullable<Timestamptz>,
        webhook_previous_secret_encrypted -> Nullable<Bytea>,
        webhook_secret_rotated_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Int8,
        token_hash -> Bytea,
        user_id -> Int8,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    test_results (id) {
        id -> Int8,
        build_id -> Int8,
        position -> Int4,
        suite -> Text,
        name -> Text,
        outcome -> Text,
        duration_ms -> Nullable<Int8>,
        message -> Nullable<Text>,
        points -> Nullable<Numeric>,
        max_points -> Nullable<Numeric>,
        hidden -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        github_id -> Nullable<Int8>,
        login -> Text,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        github_token_encrypted -> Nullable<Bytea>,
        github_token_scopes -> Nullable<Text>,
        is_admin -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_seen_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Int8,
        delivery_id -> Nullable<Text>,
        event -> Text,
        action -> Nullable<Text>,
        github_repo_id -> Nullable<Int8>,
        repository_id -> Nullable<Int8>,
        build_id -> Nullable<Int8>,
        outcome -> Text,
        detail -> Nullable<Text>,
        received_at -> Timestamptz,
        status_code -> Int2,
    }
}

diesel::joinable!(assignments -> courses (course_id));
diesel::joinable!(builds -> assignments (assignment_id));
diesel::joinable!(builds -> courses (course_id));
diesel::joinable!(builds -> repositories (repository_id));
diesel::joinable!(courses -> users (created_by));
diesel::joinable!(extensions -> assignments (assignment_id));
diesel::joinable!(invites -> courses (course_id));
diesel::joinable!(invites -> users (created_by));
diesel::joinable!(log_chunks -> builds (build_id));
diesel::joinable!(memberships -> courses (course_id));
diesel::joinable!(memberships -> invites (invite_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(notification_preferences -> courses (course_id));
diesel::joinable!(notification_preferences -> users (user_id));
diesel::joinable!(notifications -> builds (build_id));
diesel::joinable!(notifications -> courses (course_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(repositories -> assignments (assignment_id));
diesel::joinable!(repositories -> courses (course_id));
diesel::joinable!(repositories -> users (owner_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(test_results -> builds (build_id));
diesel::joinable!(webhook_deliveries -> builds (build_id));
diesel::joinable!(webhook_deliveries -> repositories (repository_id));

diesel::allow_tables_to_appear_in_same_query!(
    assignments,
    builds,
    courses,
    extensions,
    invites,
    jobs,
    log_chunks,
    memberships,
    notification_preferences,
    notifications,
    repositories,
    sessions,
    test_results,
    users,
    webhook_deliveries,
);
