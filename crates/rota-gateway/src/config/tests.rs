use super::*;

const BASE: &str = r#"
[upstream]
base_url = "http://127.0.0.1:9000/"

[[accounts]]
email = "a@x"
api_key = "k"
"#;

fn err(text: &str) -> String {
    Config::parse(text)
        .map(|_| ())
        .expect_err("invalid")
        .to_string()
}

#[test]
fn minimal_config_gets_defaults() {
    let c = Config::parse(BASE).expect("valid");
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.base_url, "http://127.0.0.1:9000");
    assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY);
    assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    assert_eq!(c.settings, Settings::default());
    assert_eq!(c.accounts[0].tier, Tier::Pro);
    assert_eq!(c.workers, None);
    assert!(!format!("{c:?}").contains("\"k\""));
}

#[test]
fn workers_is_a_positive_count() {
    let c = Config::parse(&format!("workers = 3\n{BASE}")).expect("valid");
    assert_eq!(c.workers, NonZeroUsize::new(3));
    for bad in ["0", "1025", "-1", "\"two\""] {
        assert!(
            err(&format!("workers = {bad}\n{BASE}")).starts_with("workers: "),
            "workers = {bad}"
        );
    }
}

#[test]
fn errors_name_the_field() {
    assert!(
        err(&format!("{BASE}\n[scheduling]\nmode = \"Fast\""))
            .starts_with("scheduling.mode: unknown mode \"Fast\"")
    );
    assert_eq!(
        err(&format!(
            "{BASE}\n[[accounts]]\nemail = \"b@x\"\napi_key = \"k\"\n[[accounts]]\nemail = \"a@x\"\napi_key = \"k\""
        )),
        "accounts[2].email: duplicate account \"a@x\""
    );
    assert!(err("[upstream]\nbase_url = \"http://h\"").starts_with("accounts: no accounts"));
    assert!(
        err(&BASE.replace("http://127.0.0.1:9000/", "ftp://x")).starts_with("upstream.base_url:")
    );
    assert!(err(&BASE.replace("api_key = \"k\"", "")).starts_with("accounts[0]: needs api_key"));
    assert!(err(&format!("{BASE}tier = \"GOLD\"")).starts_with("accounts[0].tier:"));
    assert!(
        err(&format!("{BASE}refresh_token = \"r\"\ntoken_url = \"x\"")).starts_with("accounts[0]:")
    );
    assert!(
        err(&BASE.replace(
            "api_key = \"k\"",
            "refresh_token = \"r\"\ntoken_url = \"nope\""
        ))
        .starts_with("accounts[0].token_url:")
    );
    assert!(err(&format!("timeout = 1\n{BASE}")).starts_with("timeout: unknown field"));
    assert!(err(&format!("listen = \"nowhere\"\n{BASE}")).starts_with("listen:"));
    assert!(
        err(&format!("{BASE}\n[scheduling]\nwindow_seconds = -1"))
            .starts_with("scheduling.window_seconds:")
    );
    assert!(
        err(&BASE.replace(
            "base_url = \"http://127.0.0.1:9000/\"",
            "base_url = \"http://h\"\ntimeout = \"soon\""
        ))
        .starts_with("upstream.timeout:")
    );
    let syntax = err("listen = ");
    assert!(
        syntax.starts_with("config: TOML syntax error at line 1"),
        "{syntax}"
    );
    assert!(!syntax.contains('\n'));
}

#[test]
fn limits_default_to_the_spec() {
    let l = Config::parse(BASE).expect("valid").limits;
    let s = Duration::from_secs;
    assert_eq!(l.header_read_timeout, s(10));
    assert_eq!(l.idle_timeout, s(120));
    assert_eq!(l.max_connections, 4096);
    assert_eq!(l.max_buffered_bytes, 1_073_741_824);
    assert_eq!(l.error_body_timeout, s(10));
    assert_eq!(l.token_timeout, s(30));
    assert_eq!(l.stream_idle_timeout, s(300));
    assert_eq!(l.shutdown_timeout, s(30));
    assert_eq!(l, Limits::default());
}

#[test]
fn every_limit_is_read() {
    let text = format!(
        "{BASE}\n[limits]\nheader_read_timeout = \"1s\"\nidle_timeout = \"2s\"\n\
         max_connections = 3\nmax_buffered_bytes = 4\nerror_body_timeout = \"5s\"\n\
         token_timeout = \"6s\"\nstream_idle_timeout = \"7m\"\nshutdown_timeout = \"250ms\"\n"
    );
    let l = Config::parse(&text).expect("valid").limits;
    let s = Duration::from_secs;
    let want = Limits {
        header_read_timeout: s(1),
        idle_timeout: s(2),
        max_connections: 3,
        max_buffered_bytes: 4,
        error_body_timeout: s(5),
        token_timeout: s(6),
        stream_idle_timeout: s(420),
        shutdown_timeout: Duration::from_millis(250),
    };
    assert_eq!(l, want);
}

#[test]
fn bad_limits_are_refused_naming_the_field() {
    let durations = [
        "header_read_timeout",
        "idle_timeout",
        "error_body_timeout",
        "token_timeout",
        "stream_idle_timeout",
        "shutdown_timeout",
    ];
    for key in durations {
        for bad in [
            "\"0s\"",
            "\"soon\"",
            "\"11years\"",
            "\"99999999999999999999s\"",
            "\"\"",
            "10",
        ] {
            let e = err(&format!("{BASE}\n[limits]\n{key} = {bad}"));
            assert!(
                e.starts_with(&format!("limits.{key}: ")),
                "{key} = {bad}: {e}"
            );
        }
    }
    for key in ["max_connections", "max_buffered_bytes"] {
        for bad in ["0", "-1", "\"many\"", "1.5"] {
            let e = err(&format!("{BASE}\n[limits]\n{key} = {bad}"));
            assert!(
                e.starts_with(&format!("limits.{key}: ")),
                "{key} = {bad}: {e}"
            );
        }
    }
    assert!(
        err(&format!("{BASE}\n[limits]\nidle = \"1s\"")).starts_with("limits.idle: unknown field")
    );
    assert!(err(&format!("limits = 1\n{BASE}")).starts_with("limits: expected a table"));
}

#[test]
fn ten_years_is_the_longest_duration() {
    assert_eq!(parse_duration("3650days"), Ok(MAX_DURATION));
    assert!(parse_duration("3651days").is_err());
    let far = std::time::Instant::now().checked_add(MAX_DURATION);
    assert!(
        far.is_some(),
        "a deadline MAX_DURATION away does not overflow"
    );
}

#[test]
fn retry_budget_is_read_and_bounded() {
    let c = Config::parse(BASE).expect("valid");
    assert_eq!(c.retry_budget, RetryBudgetConfig::default());
    assert_eq!(c.retry_budget.window, Duration::from_secs(10));
    assert_eq!(c.retry_budget.min_per_second, 10);
    assert!((c.retry_budget.percent - 20.0).abs() < f32::EPSILON);

    let text = format!(
        "{BASE}\n[scheduling]\nretry_budget_window = \"1m\"\n\
         retry_budget_min_per_second = 0\nretry_budget_percent = 12.5\n"
    );
    let b = Config::parse(&text).expect("valid").retry_budget;
    assert_eq!(b.window, Duration::from_secs(60));
    assert_eq!(b.min_per_second, 0);
    assert!((b.percent - 12.5).abs() < f32::EPSILON);
    let whole = format!("{BASE}\n[scheduling]\nretry_budget_percent = 1000");
    let b = Config::parse(&whole).expect("valid").retry_budget;
    assert!((b.percent - 1000.0).abs() < f32::EPSILON);

    let cases = [
        ("retry_budget_window", "\"500ms\""),
        ("retry_budget_window", "\"61s\""),
        ("retry_budget_window", "\"0s\""),
        ("retry_budget_window", "10"),
        ("retry_budget_min_per_second", "1000001"),
        ("retry_budget_min_per_second", "-1"),
        ("retry_budget_min_per_second", "\"ten\""),
        ("retry_budget_percent", "1000.5"),
        ("retry_budget_percent", "-1"),
        ("retry_budget_percent", "nan"),
        ("retry_budget_percent", "inf"),
        ("retry_budget_percent", "\"20%\""),
    ];
    for (key, bad) in cases {
        let e = err(&format!("{BASE}\n[scheduling]\n{key} = {bad}"));
        assert!(
            e.starts_with(&format!("scheduling.{key}: ")),
            "{key} = {bad}: {e}"
        );
    }
}

#[test]
fn durations_and_sizes_that_overflow_are_refused() {
    let timeout = |t: &str| {
        BASE.replace(
            "base_url = \"http://127.0.0.1:9000/\"",
            &format!("base_url = \"http://h\"\ntimeout = \"{t}\""),
        )
    };
    assert_eq!(
        Config::parse(&timeout("10m")).expect("valid").timeout,
        Duration::from_secs(600)
    );
    for bad in [
        "0s",
        "11years",
        "18446744073709551615s",
        "99999999999999999999999s",
    ] {
        assert!(
            err(&timeout(bad)).starts_with("upstream.timeout: "),
            "{bad}"
        );
    }
    for key in ["max_wait_seconds", "window_seconds"] {
        let e = err(&format!("{BASE}\n[scheduling]\n{key} = 18446744073709551"));
        assert!(
            e.starts_with(&format!("scheduling.{key}: must be from 0 to ")),
            "{e}"
        );
    }
    let c = Config::parse(&format!("max_body_bytes = 4294967296\n{BASE}")).expect("4 GiB");
    assert_eq!(c.max_body_bytes as u64, MAX_BODY_LIMIT);
    for bad in ["0", "4294967297", "-5"] {
        let e = err(&format!("max_body_bytes = {bad}\n{BASE}"));
        assert!(e.starts_with("max_body_bytes: "), "{bad}: {e}");
    }
    assert!(
        err(&format!("{BASE}\n[scheduling]\nmax_attempts = 0"))
            .starts_with("scheduling.max_attempts: must be at least 1")
    );
}

#[test]
fn credentials_must_be_header_values() {
    let key = |k: &str| BASE.replace("api_key = \"k\"", &format!("api_key = \"{k}\""));
    for bad in ["a\\r\\nX-Evil: 1", "a\\u0000", "", " k", "k\\n"] {
        let e = err(&key(bad));
        assert!(
            e.starts_with("accounts[0].api_key: not a valid HTTP header value"),
            "{bad}: {e}"
        );
    }
    let rt = |t: &str| {
        BASE.replace(
            "api_key = \"k\"",
            &format!("refresh_token = \"{t}\"\ntoken_url = \"http://h/t\""),
        )
    };
    Config::parse(&rt("rt-1")).expect("valid");
    assert!(err(&rt("rt\\r\\n")).starts_with("accounts[0].refresh_token: not a valid HTTP"));
    let auth = |body: &str| format!("[auth]\n{body}\n{BASE}");
    Config::parse(&auth("api_keys = [\"sk-1\"]\nadmin_token = \"t\"")).expect("valid");
    assert!(
        err(&auth("api_keys = [\"ok\", \"bad\\n\"]"))
            .starts_with("auth.api_keys[1]: not a valid HTTP header value")
    );
    assert!(err(&auth("api_keys = [\"\"]")).starts_with("auth.api_keys[0]: "));
    assert!(
        err(&auth("admin_token = \"t\\u0000\""))
            .starts_with("auth.admin_token: not a valid HTTP header value")
    );
    assert!(err(&auth("admin_token = \"\"")).starts_with("auth.admin_token: "));
}

#[test]
fn session_headers_must_be_header_names() {
    let with = |list: &str| format!("{BASE}\n[scheduling]\nsession_headers = [{list}]");
    let c = Config::parse(&with("\"x-session-id\", \"X-Conversation\"")).expect("valid");
    assert_eq!(c.session_headers.len(), 2);
    for (list, field) in [
        ("\"x session\"", "scheduling.session_headers[0]: "),
        ("\"ok\", \"\"", "scheduling.session_headers[1]: "),
        ("\"a\\r\\nb\"", "scheduling.session_headers[0]: "),
        ("\"x:y\"", "scheduling.session_headers[0]: "),
    ] {
        let e = err(&with(list));
        assert!(e.starts_with(field), "{list}: {e}");
    }
}

#[test]
fn mapping_targets_are_plain_model_names() {
    let with = |entry: &str| format!("{BASE}\n[model_mapping]\n{entry}");
    let c = Config::parse(&with(
        "\"gpt-4o\" = \"gemini-3-pro-high\"\n\"claude-*\" = \"claude-sonnet-4-5@20250929\"",
    ))
    .expect("valid");
    assert_eq!(c.model_mapping.len(), 2);
    for entry in [
        "\"gpt-4o\" = \"../admin\"",
        "\"gpt-4o\" = \"a%2fb\"",
        "\"gpt-4o\" = \"\"",
        "\"gpt-4o\" = \"x:generateContent\"",
        "\"gpt-4o\" = \"a?b\"",
        "\"gpt-4o\" = \"a#b\"",
        "\"gpt-4o\" = \"a b\"",
        "\"gpt-4o\" = \"a\\u0001\"",
        "\"gpt-4o\" = \"claude-*\"",
        "\"gpt 4o\" = \"x\"",
        "\"a/b\" = \"x\"",
        "\"..\" = \"x\"",
    ] {
        let e = err(&with(entry));
        assert!(e.starts_with("model_mapping."), "{entry}: {e}");
        assert!(!e.contains('\n'), "{entry}: {e}");
    }
}

#[test]
fn fleet_section() {
    assert_eq!(Config::parse(BASE).expect("valid").fleet, None);
    let with = |body: &str| format!("{BASE}\n[fleet]\n{body}");
    let c = Config::parse(&with(
        "redis_url = \"redis://10.0.0.5:6379/2\"\nkey_prefix = \"pool-a:\"\nop_timeout = \"20ms\"",
    ))
    .expect("valid");
    let fleet = c.fleet.expect("fleet mode");
    assert_eq!(fleet.redis_url, "redis://10.0.0.5:6379/2");
    assert_eq!(fleet.key_prefix, "pool-a:");
    assert_eq!(fleet.op_timeout, Duration::from_millis(20));
    let defaults = Config::parse(&with("redis_url = \"redis://h\""))
        .expect("valid")
        .fleet
        .expect("fleet mode");
    assert_eq!(defaults.key_prefix, "rota:");
    assert_eq!(defaults.op_timeout, Duration::from_millis(50));
    for (body, field) in [
        ("", "fleet.redis_url: missing"),
        ("redis_url = \"http://h\"", "fleet.redis_url:"),
        (
            "redis_url = \"redis://h\"\nkey_prefix = \"a b\"",
            "fleet.key_prefix:",
        ),
        (
            "redis_url = \"redis://h\"\nkey_prefix = \"\"",
            "fleet.key_prefix:",
        ),
        (
            "redis_url = \"redis://h\"\nop_timeout = \"0s\"",
            "fleet.op_timeout:",
        ),
        (
            "redis_url = \"redis://h\"\nreplicas = 2",
            "fleet.replicas: unknown field",
        ),
    ] {
        let e = err(&with(body));
        assert!(e.starts_with(field), "{body:?}: {e}");
    }
}

#[test]
fn account_caps() {
    let c = Config::parse(&format!("{BASE}rpm = 60\nmax_concurrent = 4\n")).expect("valid");
    assert_eq!(c.accounts[0].caps.rpm.map(|n| n.get()), Some(60));
    assert_eq!(c.accounts[0].caps.max_concurrent.map(|n| n.get()), Some(4));
    assert_eq!(
        Config::parse(BASE).expect("valid").accounts[0].caps,
        rota::core::Caps::default()
    );
    for bad in [
        "rpm = 0",
        "rpm = -1",
        "max_concurrent = 0",
        "rpm = \"fast\"",
    ] {
        let e = err(&format!("{BASE}{bad}\n"));
        assert!(e.starts_with("accounts[0]."), "{bad}: {e}");
    }
}
