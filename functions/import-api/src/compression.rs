//! gzip for answers a client says it can take. API Gateway HTTP APIs do not compress:
//! they pass the function's body and headers through. A page of 500 rows or the
//! imports list is JSON that gzip makes 5 to 10 times smaller, and the page's script
//! and the API description are the largest answers of all.

use flate2::{write::GzEncoder, Compression};
use lambda_http::{Body, Request, Response};
use std::io::Write;

/// Smaller answers go as they are: gzip's own header and the base64 API Gateway needs
/// for bytes would eat most of the gain.
pub const COMPRESS_FROM_BYTES: usize = 1024;

/// Whether the request's `Accept-Encoding` takes gzip (RFC 9110 12.5.3: a coding with
/// `q=0` is refused; `*` stands for any coding not named).
pub fn accepts_gzip(req: &Request) -> bool {
    let mut gzip = None;
    let mut any = None;
    for value in req.headers().get_all(http::header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for entry in value.split(',') {
            let mut parts = entry.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let allowed = parts
                .filter_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .or_else(|| p.trim().strip_prefix("Q="))
                })
                .all(|q| q.trim().parse::<f32>().map(|q| q > 0.0).unwrap_or(false));
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(allowed),
                "*" => any = Some(allowed),
                _ => {}
            }
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// The answer gzipped when the client takes it and it is worth it; unchanged otherwise.
/// Every answer that could have been compressed says `Vary: Accept-Encoding`, so that
/// a cache in between keeps the two forms apart.
pub fn compress(accepts_gzip: bool, response: Response<Body>) -> Response<Body> {
    let bytes: &[u8] = match response.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => return response,
    };
    if bytes.len() < COMPRESS_FROM_BYTES
        || response
            .headers()
            .contains_key(http::header::CONTENT_ENCODING)
    {
        return response;
    }
    // Writing into a Vec cannot fail; if it ever did, the answer goes as it is.
    let gzipped = accepts_gzip.then(|| {
        let mut encoder =
            GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::default());
        encoder
            .write_all(bytes)
            .and_then(|()| encoder.finish())
            .ok()
    });
    let (mut parts, body) = response.into_parts();
    parts.headers.append(
        http::header::VARY,
        http::HeaderValue::from_static("accept-encoding"),
    );
    match gzipped.flatten() {
        Some(gzipped) => {
            parts.headers.insert(
                http::header::CONTENT_ENCODING,
                http::HeaderValue::from_static("gzip"),
            );
            parts.headers.remove(http::header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::Binary(gzipped))
        }
        None => Response::from_parts(parts, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn request(accept_encoding: &[&str]) -> Request {
        let mut builder = http::Request::builder().uri("/imports");
        for v in accept_encoding {
            builder = builder.header("accept-encoding", *v);
        }
        builder.body(Body::Empty).unwrap()
    }

    #[test]
    fn reads_accept_encoding_as_rfc_9110_says() {
        assert!(accepts_gzip(&request(&["gzip, deflate, br"])));
        assert!(accepts_gzip(&request(&["br", "GZIP;q=0.5"])));
        assert!(accepts_gzip(&request(&["*"])));
        assert!(!accepts_gzip(&request(&[])));
        assert!(!accepts_gzip(&request(&["identity"])));
        assert!(!accepts_gzip(&request(&["gzip;q=0"])));
        assert!(!accepts_gzip(&request(&["*, gzip;q=0"])));
        assert!(!accepts_gzip(&request(&["gzip;q=nonsense"])));
    }

    #[test]
    fn a_large_answer_is_gzipped_and_reads_back_the_same() {
        let text = "{\"imports\":[".to_string() + &"{\"status\":\"validated\"},".repeat(200) + "]}";
        let response = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::Text(text.clone()))
            .unwrap();
        let gz = compress(true, response);
        assert_eq!(gz.headers()["content-encoding"], "gzip");
        assert_eq!(gz.headers()["vary"], "accept-encoding");
        assert_eq!(gz.headers()["content-type"], "application/json");
        let Body::Binary(bytes) = gz.body() else {
            panic!("gzip is bytes")
        };
        assert!(
            bytes.len() * 5 < text.len(),
            "{} bytes from {}",
            bytes.len(),
            text.len()
        );
        let mut back = String::new();
        GzDecoder::new(&bytes[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn small_answers_and_clients_without_gzip_get_the_answer_as_it_is() {
        let small = Response::builder()
            .status(200)
            .body(Body::Text("{\"ok\":true}".into()))
            .unwrap();
        let same = compress(true, small);
        assert!(matches!(same.body(), Body::Text(t) if t == "{\"ok\":true}"));
        assert!(!same.headers().contains_key("vary"));
        let large = Response::builder()
            .status(200)
            .body(Body::Text("x".repeat(5000)))
            .unwrap();
        let plain = compress(false, large);
        assert!(matches!(plain.body(), Body::Text(t) if t.len() == 5000));
        assert!(!plain.headers().contains_key("content-encoding"));
        assert_eq!(plain.headers()["vary"], "accept-encoding");
    }
}
