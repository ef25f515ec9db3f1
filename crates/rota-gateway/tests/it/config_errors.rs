//! Invalid configurations: the real binary exits with code 2 and one line naming the field.

use std::process::Command;

const GOOD: &str = r#"
listen = "127.0.0.1:0"

[upstream]
base_url = "http://127.0.0.1:9"

[[accounts]]
email = "a@x"
api_key = "k"
"#;

fn run(config: Option<&str>) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rota.toml");
    if let Some(text) = config {
        std::fs::write(&path, text).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rota-gateway"))
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_invalid_config_exits_2_with_one_line_naming_the_field() {
    let with = |extra: &str| format!("{GOOD}\n{extra}");
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "config: cannot read "),
        (Some("listen = \n".into()), "config: "),
        (
            Some(with("[scheduling]\nmode = \"Fast\"")),
            "scheduling.mode: unknown mode \"Fast\"",
        ),
        (
            Some(with(
                "[[accounts]]\nemail = \"b@x\"\napi_key = \"k\"\n[[accounts]]\nemail = \"a@x\"\napi_key = \"k\"",
            )),
            "accounts[2].email: duplicate account \"a@x\"",
        ),
        (
            Some("[upstream]\nbase_url = \"http://h\"\n".into()),
            "accounts: ",
        ),
        (
            Some(GOOD.replace("http://127.0.0.1:9", "not a url")),
            "upstream.base_url: ",
        ),
        (
            Some(with(
                "[[accounts]]\nemail = \"o@x\"\nrefresh_token = \"r\"\ntoken_url = \"ftp://x\"",
            )),
            "accounts[1].token_url: ",
        ),
        (
            Some(with("[[accounts]]\nemail = \"o@x\"")),
            "accounts[1]: needs api_key or refresh_token + token_url",
        ),
        (
            Some(with(
                "[[accounts]]\nemail = \"o@x\"\napi_key = \"k\"\ntier = \"GOLD\"",
            )),
            "accounts[1].tier: ",
        ),
        (
            Some(GOOD.replace(
                "base_url = \"http://127.0.0.1:9\"",
                "base_url = \"http://h\"\ntimeout = \"soon\"",
            )),
            "upstream.timeout: ",
        ),
        (Some(GOOD.replace("127.0.0.1:0", "nowhere")), "listen: "),
        (Some(format!("colour = 1\n{GOOD}")), "colour: unknown field"),
        (
            Some(with("colour = 1")),
            "accounts[0].colour: unknown field",
        ),
        // [limits] and the retry budget.
        (
            Some(with("[limits]\nidle_timeout = \"0s\"")),
            "limits.idle_timeout: duration \"0s\" must be greater than zero",
        ),
        (
            Some(with("[limits]\nheader_read_timeout = \"soon\"")),
            "limits.header_read_timeout: invalid duration",
        ),
        (
            Some(with("[limits]\nshutdown_timeout = \"11years\"")),
            "limits.shutdown_timeout: duration \"11years\" is too large",
        ),
        (
            Some(with(
                "[limits]\nstream_idle_timeout = \"99999999999999999999s\"",
            )),
            "limits.stream_idle_timeout: ",
        ),
        (
            Some(with("[limits]\nmax_connections = 0")),
            "limits.max_connections: must be at least 1",
        ),
        (
            Some(with("[limits]\nmax_buffered_bytes = -1")),
            "limits.max_buffered_bytes: must not be negative",
        ),
        (
            Some(with("[limits]\ntoken_timeout = 30")),
            "limits.token_timeout: expected a string",
        ),
        (
            Some(with("[limits]\nidle = \"1s\"")),
            "limits.idle: unknown field",
        ),
        (
            Some(with("[scheduling]\nretry_budget_window = \"2m\"")),
            "scheduling.retry_budget_window: must be from 1s to 1m",
        ),
        (
            Some(with("[scheduling]\nretry_budget_min_per_second = 1000001")),
            "scheduling.retry_budget_min_per_second: must be from 0 to 1000000",
        ),
        (
            Some(with("[scheduling]\nretry_budget_percent = 1001")),
            "scheduling.retry_budget_percent: must be a number from 0 to 1000",
        ),
        // Values that would be unsafe on the wire or in a deadline.
        (
            Some(GOOD.replace("api_key = \"k\"", "api_key = \"k\\r\\nX-Evil: 1\"")),
            "accounts[0].api_key: not a valid HTTP header value",
        ),
        (
            Some(GOOD.replace(
                "api_key = \"k\"",
                "refresh_token = \"r\\u0000\"\ntoken_url = \"http://h/t\"",
            )),
            "accounts[0].refresh_token: not a valid HTTP header value",
        ),
        (
            Some(format!("[auth]\napi_keys = [\"ok\", \"a\\nb\"]\n{GOOD}")),
            "auth.api_keys[1]: not a valid HTTP header value",
        ),
        (
            Some(format!("[auth]\nadmin_token = \" t\"\n{GOOD}")),
            "auth.admin_token: not a valid HTTP header value",
        ),
        (
            Some(with("[scheduling]\nsession_headers = [\"x session\"]")),
            "scheduling.session_headers[0]: invalid header name",
        ),
        (
            Some(with("[model_mapping]\n\"gpt-4o\" = \"../admin\"")),
            "model_mapping.\"gpt-4o\": the target \"../admin\" is not a plain model name",
        ),
        (
            Some(with("[model_mapping]\n\"a/*\" = \"b\"")),
            "model_mapping.\"a/*\": the source is not a model name or pattern",
        ),
        (
            Some(format!("max_body_bytes = 4294967297\n{GOOD}")),
            "max_body_bytes: must be from 1 to 4294967296",
        ),
        (
            Some(format!("max_body_bytes = 0\n{GOOD}")),
            "max_body_bytes: must be from 1 to 4294967296",
        ),
        (
            Some(GOOD.replace(
                "base_url = \"http://127.0.0.1:9\"",
                "base_url = \"http://h\"\ntimeout = \"18446744073709551615s\"",
            )),
            "upstream.timeout: duration ",
        ),
        (
            Some(with("[scheduling]\nmax_wait_seconds = 18446744073709551")),
            "scheduling.max_wait_seconds: must be from 0 to 315360000",
        ),
    ];
    for (config, want) in cases {
        let (code, stderr) = run(config.as_deref());
        assert_eq!(code, Some(2), "{want}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{want}: {stderr}");
        let prefix = format!("rota-gateway: config error: {want}");
        assert!(
            lines[0].starts_with(&prefix),
            "want {prefix:?}, got {:?}",
            lines[0]
        );
    }
}
