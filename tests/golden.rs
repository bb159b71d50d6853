//! Golden translations: every ok fixture into every dialect and form, snapshotted; every err fixture into the
//! dialect's error body with the pointer of the defect.

use ordermux::canonical::Platform;
use ordermux::dialects::{self, encode_error};
use serde_json::{json, Map, Value};

use crate::support::*;

#[test]
fn every_ok_fixture_translates_into_every_dialect_and_form() {
    for fx in ok_fixtures() {
        let decoded = fx.decode();
        assert_eq!(
            decoded.kind,
            fx.kind,
            "{}: detected the wrong document kind",
            fx.path.display()
        );
        let mut outputs = Map::new();
        for target in Platform::ALL {
            for form in FORMS {
                let out = dialects::encode(target, form, &decoded.order);
                let losses: Vec<String> = out.losses.iter().map(ToString::to_string).collect();
                outputs.insert(
                    format!("{}/{}", target.name(), form.name()),
                    json!({ "document": out.value, "losses": losses }),
                );
            }
        }
        insta::with_settings!({
            snapshot_path => "snapshots/golden",
            prepend_module_to_snapshot => false,
            input_file => &fx.path,
            sort_maps => true,
            omit_expression => true,
        }, {
            insta::assert_json_snapshot!(fx.id(), Value::Object(outputs));
        });
    }
}

#[test]
fn every_err_fixture_is_refused_with_a_pointer_in_every_error_shape() {
    let fixtures = err_fixtures();
    assert!(
        fixtures.len() >= 12,
        "expected err fixtures, found {}",
        fixtures.len()
    );
    for fx in fixtures {
        let problem = match dialects::decode(fx.dialect, &fx.bytes(), &options()) {
            Ok(_) => panic!("{}: an err fixture decoded", relative(&fx.path)),
            Err(p) => p,
        };
        let fc = encode_error(Platform::FluentCart, &problem);
        let cl = encode_error(Platform::CommerceLayer, &problem);
        let bc = encode_error(Platform::BigCommerce, &problem);
        assert!(fc.status.is_client_error());
        assert_eq!(fc.status, cl.status);
        assert_eq!(fc.status, bc.status);
        // An RFC 6901 pointer: "" for the whole document, else "/" and the path.
        assert!(cl.body["errors"][0]["source"]["pointer"]
            .as_str()
            .is_some_and(|p| p.is_empty() || p.starts_with('/')));
        let summary = json!({
            "kind": problem.kind.key(),
            "pointer": problem.pointer,
            "reason": problem.reason,
            "http_status": fc.status.as_u16(),
            "native": { "fluentcart": fc.body, "commercelayer": cl.body, "bigcommerce": bc.body },
        });
        insta::with_settings!({
            snapshot_path => "snapshots/errors",
            prepend_module_to_snapshot => false,
            input_file => &fx.path,
            omit_expression => true,
        }, {
            insta::assert_json_snapshot!(fx.id(), summary);
        });
    }
}
