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
