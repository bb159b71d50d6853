//! `ordermux translate` end to end, through the built binary.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::*;

fn ordermux(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ordermux"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        // The process may exit before reading (a bad flag); a broken pipe then is expected.
        if let Err(e) = child.stdin.take().unwrap().write_all(input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn seed_fc() -> String {
    let fx = ok_fixtures()
        .into_iter()
        .find(|f| {
            f.path
                .to_string_lossy()
                .contains("fluentcart/request/ok/0001")
        })
        .unwrap();
    relative(&fx.path)
}

#[test]
fn translates_a_file_and_stdin_alike() {
    let seed = seed_fc();
    let fc = std::fs::read(root().join(&seed)).unwrap();
    let (code, from_file, _) = ordermux(
        &[
            "translate",
            "--from",
            "fluentcart",
            "--to",
            "bigcommerce",
            &seed,
        ],
        None,
    );
    assert_eq!(code, 0);
    let (code, from_stdin, _) = ordermux(
        &[
            "translate",
            "--from",
            "fluentcart",
            "--to",
            "bigcommerce",
            "-",
        ],
        Some(&fc),
    );
    assert_eq!(code, 0);
    assert_eq!(from_file, from_stdin);
    let doc: Value = serde_json::from_str(&from_file).unwrap();
    assert!(doc["products"].is_array());
}

#[test]
fn invalid_input_exits_2_with_the_pointer_and_no_output() {
    let bad = br#"{"customer_id": 1, "currency": "USD", "order_items": [{"quantity": 0, "unit_price": 100}]}"#;
    let (code, stdout, stderr) = ordermux(
        &["translate", "--from", "fluentcart", "--to", "commercelayer"],
        Some(bad),
    );
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("order_items/0/quantity"), "{stderr}");
}

#[test]
fn strict_exits_3_on_loss_and_prints_each_loss() {
    // A Commerce Layer order rendered as a BigCommerce request loses its separate status axes.
    let fx = ok_fixtures()
        .into_iter()
        .find(|f| {
            f.path
                .to_string_lossy()
                .contains("commercelayer/order/ok/0009")
        })
        .unwrap();
    let path = relative(&fx.path);
    let (code, stdout, stderr) = ordermux(
        &[
            "translate",
            "--from",
            "commercelayer",
            "--to",
            "fluentcart",
            "--strict",
            &path,
        ],
        None,
    );
    let warnings = stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .count();
    assert!(warnings > 0, "{stderr}");
    assert_eq!(code, 3);
    assert!(!stdout.is_empty());
    let (code, _, _) = ordermux(
        &[
            "translate",
            "--from",
            "commercelayer",
            "--to",
            "fluentcart",
            &path,
        ],
        None,
    );
    assert_eq!(code, 0);
}

/// A BigCommerce create request (no currency in it) translated to FluentCart, with `extra` flags.
fn bigcommerce_to_fluentcart(extra: &[&str]) -> (i32, String, String) {
    let bc = br#"{"billing_address": {"first_name": "A", "last_name": "B", "street_1": "1 Main", "city": "Austin", "zip": "1", "country": "United States", "country_iso2": "US", "email": "a@b.co"}, "products": [{"name": "Tea", "quantity": 1, "price_ex_tax": "1500", "price_inc_tax": "1500"}]}"#;
    let mut args = vec!["translate", "--from", "bigcommerce", "--to", "fluentcart"];
    args.extend_from_slice(extra);
    ordermux(&args, Some(bc))
}

#[test]
fn currency_comes_from_the_flag_or_gateway_toml() {
    let (code, out, _) = bigcommerce_to_fluentcart(&["--currency", "JPY"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["currency"], "JPY");
    assert_eq!(doc["order_items"][0]["unit_price"], 150000);
    let (code, out, _) = bigcommerce_to_fluentcart(&[]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["currency"], "USD", "gateway.toml [defaults] currency");
    let (code, _, err) = bigcommerce_to_fluentcart(&["--currency", "XYZ"]);
    assert_eq!(code, 2);
    assert!(err.contains("XYZ"));
}

#[test]
fn an_order_a_shop_would_refuse_is_rendered_with_a_warning() {
    // The manual discount is larger than the one line: the order would come to -5.00 USD, which the gateway
    // answers with 422 on create. The translation still renders it, says so, and fails --strict.
    let bc = br#"{"billing_address": {"first_name": "A", "last_name": "B", "street_1": "1 Main", "city": "Austin", "zip": "1", "country": "United States", "country_iso2": "US", "email": "a@b.co"}, "discount_amount": "20.00", "products": [{"name": "Tea", "quantity": 1, "price_ex_tax": "15.00", "price_inc_tax": "15.00"}]}"#;
    let refusal =
        "warning: /: a shop would refuse this order: the order's total comes to -5.00 USD";
    let same = ["translate", "--from", "bigcommerce", "--to", "bigcommerce"];
    for target in ["commercelayer", "bigcommerce"] {
        let args = ["translate", "--from", "bigcommerce", "--to", target];
        let (code, out, err) = ordermux(&args, Some(bc));
        assert_eq!(code, 0, "{err}");
        assert!(!out.is_empty());
        assert!(err.contains(refusal), "{target}: {err}");
    }
    // BigCommerce to BigCommerce loses nothing, so --strict fails on the refusal alone.
    let (code, _, _) = ordermux(&[&same[..], &["--strict"]].concat(), Some(bc));
    assert_eq!(code, 3);
    // Within the lines, the same order renders without the warning, and passes --strict.
    let fine = String::from_utf8_lossy(bc).replace("20.00", "5.00");
    let (code, _, err) = ordermux(&[&same[..], &["--strict"]].concat(), Some(fine.as_bytes()));
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("would refuse"), "{err}");
}
