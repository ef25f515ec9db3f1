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
