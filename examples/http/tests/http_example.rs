//! End-to-end test of `examples/http.rs` on 127.0.0.1: every route's
//! status and exact JSON body, the counter shared across connections, and
//! the graceful shutdown that ends `run_server`.

#[allow(dead_code)] // `main` and the self-test are the example's own.
#[path = "../../http.rs"]
mod http;

use std::time::Duration;

use arbor::net::TcpListener;

#[test]
fn the_json_service_answers_every_route() {
    let rt = arbor::Runtime::builder()
        .autojump(Duration::from_millis(10))
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = arbor::spawn(async move {
            let mut answers = Vec::new();
            for (method, path, body) in [
                ("GET", "/hello?name=arbor", ""),
                ("GET", "/hello", ""),
                ("POST", "/count", ""),
                ("POST", "/count", ""),
                ("GET", "/count", ""),
                ("POST", "/echo", "{\"a\":[1,2,3]}"),
                ("GET", "/nowhere", ""),
                ("DELETE", "/count", ""),
            ] {
                answers.push(http::request(addr, method, path, body).await.unwrap());
            }
            answers
        });
        let stats = http::run_server(listener, async move {
            let answers = client.await.unwrap();
            let ok = "HTTP/1.1 200 OK";
            let not_found = "HTTP/1.1 404 Not Found";
            let expected = [
                (ok, r#"{"greeting":"hello, arbor"}"#),
                (ok, r#"{"greeting":"hello, world"}"#),
                (ok, r#"{"count":1}"#),
                (ok, r#"{"count":2}"#),
                (ok, r#"{"count":2}"#),
                (ok, r#"{"bytes":13}"#),
                (not_found, r#"{"error":"not found"}"#),
                (not_found, r#"{"error":"not found"}"#),
            ];
            let got: Vec<(&str, &str)> = answers
                .iter()
                .map(|(s, b)| (s.as_str(), b.as_str()))
                .collect();
            assert_eq!(got, expected);
        })
        .await
        .unwrap();
        assert_eq!(stats.accepted, 8);
        assert_eq!(stats.finished, 8);
        assert_eq!(stats.cut_at_deadline, 0);
    });
}

#[test]
fn json_strings_are_escaped() {
    assert_eq!(http::json_string("a\"b\\c\nd"), r#""a\"b\\c\u000ad""#);
}
