//! Request signatures, as pure functions of (request, time, nonce, credentials).
//!
//! V3 (`ACS3-HMAC-SHA256`) is what the official SDKs send today; V2 (HMAC-SHA1) is what older tools
//! still send. The client signs with V3; the emulator verifies both, reusing the same canonical forms
//! so that a disagreement between them cannot hide. Nothing here reads a clock or a random source:
//! callers pass the date and nonce, which is what lets the published vectors be reproduced.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Hex SHA-256 of an empty body, which every GET carries in `x-acs-content-sha256`.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The V3 algorithm name, as it starts the `Authorization` header and the string to sign.
pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// What Alibaba Cloud's RFC 3986 encoding escapes: everything but `A-Z a-z 0-9 - _ . ~`.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// RFC 3986 percent-encoding as Alibaba Cloud applies it: only `A-Z a-z 0-9 - _ . ~` stay as they
/// are; everything else is `%XX` of its UTF-8 bytes with upper-case hex (space is `%20`, `*` is `%2A`).
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Decodes `%XX` escapes (and, when `plus_is_space`, `+` as in HTML forms). Invalid escapes are
/// kept literally; invalid UTF-8 is an error, since no signed parameter can contain it.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, std::string::FromUtf8Error> {
    // A literal `+` is a space in a form; an encoded one (`%2B`) is a plus, so replace first.
    let bytes: Vec<u8> = if plus_is_space && s.contains('+') {
        percent_decode_str(&s.replace('+', " ")).collect()
    } else {
        percent_decode_str(s).collect()
    };
    String::from_utf8(bytes)
}

/// Parses `a=1&b=2` into decoded pairs, keeping their order. A name without `=` has an empty value.
pub fn parse_query(
    s: &str,
    plus_is_space: bool,
) -> Result<Vec<(String, String)>, std::string::FromUtf8Error> {
    let mut out = Vec::new();
    for part in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((
            percent_decode(k, plus_is_space)?,
            percent_decode(v, plus_is_space)?,
        ));
    }
    Ok(out)
}

/// Parameters sorted by name (then value), each name and value percent-encoded, joined by `&`.
/// This is also the exact query string the client sends, so what is signed is what travels.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut enc: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent_encode(k.as_ref()), percent_encode(v.as_ref())))
        .collect();
    enc.sort();
    let mut out = String::new();
    for (i, (k, v)) in enc.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Which headers the signer covers: `host`, `content-type` and every `x-acs-*` header.
pub fn is_signed_header(lower_name: &str) -> bool {
    lower_name == "host" || lower_name == "content-type" || lower_name.starts_with("x-acs-")
}

/// The canonical header block and the `SignedHeaders` list for the headers `include` selects.
/// Names are lower-cased and sorted, values trimmed; a name given twice gets its values sorted and
/// joined by `,`.
pub fn canonical_headers<N: AsRef<str>, V: AsRef<str>>(
    headers: &[(N, V)],
    include: impl Fn(&str) -> bool,
) -> (String, String) {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (n, v) in headers {
        let name = n.as_ref().trim().to_ascii_lowercase();
        if include(&name) {
            map.entry(name)
                .or_default()
                .push(v.as_ref().trim().to_string());
        }
    }
    let mut block = String::new();
    for (name, values) in map.iter_mut() {
        values.sort();
        block.push_str(name);
        block.push(':');
        block.push_str(&values.join(","));
        block.push('\n');
    }
    let signed = map.keys().cloned().collect::<Vec<_>>().join(";");
    (block, signed)
}

/// What V3 signs: method, path, query parameters, the headers that are signed, and the body's hash.
#[derive(Debug, Clone)]
pub struct V3Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub payload_sha256: &'a str,
}

/// The V3 canonical request and its `SignedHeaders`, selecting headers with `include`.
pub fn v3_canonical_request(
    req: &V3Request<'_>,
    include: impl Fn(&str) -> bool,
) -> (String, String) {
    let (block, signed) = canonical_headers(req.headers, include);
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        canonical_query(req.query),
        block,
        signed,
        req.payload_sha256
    );
    (canonical, signed)
}

/// Hex HMAC-SHA256 over `ACS3-HMAC-SHA256\n` + hex SHA-256 of the canonical request, keyed with the
/// raw secret (no trailing `&`, unlike V2).
pub fn v3_signature(secret: &str, canonical_request: &str) -> String {
    let string_to_sign = format!(
        "{V3_ALGORITHM}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    hex::encode(hmac_sha256(secret.as_bytes(), string_to_sign.as_bytes()))
}

/// The `Authorization` header value for a request, signing `host`, `content-type` and `x-acs-*`.
pub fn v3_authorization(req: &V3Request<'_>, access_key_id: &str, secret: &str) -> String {
    let (canonical, signed) = v3_canonical_request(req, is_signed_header);
    let sig = v3_signature(secret, &canonical);
    format!("{V3_ALGORITHM} Credential={access_key_id},SignedHeaders={signed},Signature={sig}")
}

/// The parts of a V3 `Authorization` header, for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Authorization {
    pub access_key_id: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`; `None` when any part is absent.
pub fn parse_v3_authorization(value: &str) -> Option<V3Authorization> {
    let rest = value.trim().strip_prefix(V3_ALGORITHM)?.trim_start();
    let (mut id, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => id = Some(v.to_string()),
            "SignedHeaders" => signed = Some(v.split(';').map(str::to_string).collect()),
            "Signature" => sig = Some(v.to_string()),
            _ => {}
        }
    }
    Some(V3Authorization {
        access_key_id: id.filter(|s: &String| !s.is_empty())?,
        signed_headers: signed?,
        signature: sig.filter(|s: &String| !s.is_empty())?,
    })
}

/// V2 string to sign: `METHOD&%2F&` + the percent-encoded canonical query of every parameter except
/// `Signature` itself.
pub fn v2_string_to_sign<K: AsRef<str>, V: AsRef<str>>(method: &str, params: &[(K, V)]) -> String {
    let kept: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, _)| *k != "Signature")
        .collect();
    format!("{method}&%2F&{}", percent_encode(&canonical_query(&kept)))
}

/// V2 signature: Base64 of HMAC-SHA1 keyed with `secret + "&"`.
pub fn v2_signature(secret: &str, string_to_sign: &str) -> String {
    let key = format!("{secret}&");
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha1(key.as_bytes(), string_to_sign.as_bytes()))
}

/// Compares two signatures (or tokens) in time that does not depend on where they first differ,
/// so timing does not reveal a prefix. Their lengths are public (a signature's length is fixed).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn six_headers(host: &str, action: &str, version: &str, date: &str) -> Vec<(String, String)> {
        pairs(&[
            ("host", host),
            ("x-acs-action", action),
            ("x-acs-version", version),
            ("x-acs-date", date),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", EMPTY_SHA256),
        ])
    }

    #[test]
    fn v3_published_example() {
        let query = pairs(&[
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ]);
        let headers = six_headers(
            "ecs.cn-shanghai.aliyuncs.com",
            "RunInstances",
            "2014-05-26",
            "2023-10-26T10:22:32Z",
        );
        let req = V3Request {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        let (canonical, signed) = v3_canonical_request(&req, is_signed_header);
        assert_eq!(
            signed,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(
            v3_signature("YourAccessKeySecret", &canonical),
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn v3_update_live_pull_to_push_example() {
        let query = pairs(&[
            ("Region", "cn-shanghai"),
            ("TaskId", "fd245384-4067-4f91-9d75-9666a6bc0000"),
            (
                "SourceUrls",
                r#"["rtmp://pulltest.example.com/app/stream"]"#,
            ),
            ("RepeatNumber", "-1"),
            ("CallbackUrl", "https://callback.example.com/notify?a=1 b*"),
        ]);
        assert_eq!(
            canonical_query(&query),
            "CallbackUrl=https%3A%2F%2Fcallback.example.com%2Fnotify%3Fa%3D1%20b%2A&Region=cn-shanghai&RepeatNumber=-1&SourceUrls=%5B%22rtmp%3A%2F%2Fpulltest.example.com%2Fapp%2Fstream%22%5D&TaskId=fd245384-4067-4f91-9d75-9666a6bc0000"
        );
        let headers = six_headers(
            "live.aliyuncs.com",
            "UpdateLivePullToPush",
            "2016-11-01",
            "2024-08-23T15:30:00Z",
        );
        let req = V3Request {
            method: "GET",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        let auth = v3_authorization(&req, "YourAccessKeyId", "YourAccessKeySecret");
        assert_eq!(
            auth,
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=0917c8f55ce83608038446f1a40a9eb7f0a85c0056cec54d488d63d0bbe77935"
        );
        let parsed = parse_v3_authorization(&auth).unwrap();
        assert_eq!(parsed.access_key_id, "YourAccessKeyId");
        assert_eq!(parsed.signed_headers.len(), 6);
        assert_eq!(
            parsed.signature,
            "0917c8f55ce83608038446f1a40a9eb7f0a85c0056cec54d488d63d0bbe77935"
        );
    }

    #[test]
    fn v3_sdk_unit_test_vector() {
        let query = pairs(&[("test", "ok"), ("empty", "")]);
        let headers = pairs(&[("x-acs-test", "http"), ("x-acs-TEST", "https")]);
        let req = V3Request {
            method: "",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23",
        };
        assert_eq!(
            v3_authorization(&req, "acesskey", "secret"),
            "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,Signature=4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3"
        );
    }

    #[test]
    fn v2_published_example() {
        let params = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeDedicatedHosts"),
            ("Format", "JSON"),
            ("RegionId", "cn-beijing"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "edb2b34af0af9a6d14deaf7c1a5315eb"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2023-03-13T08:34:30Z"),
            ("Version", "2014-05-26"),
        ];
        let sts = v2_string_to_sign("GET", &params);
        assert_eq!(
            v2_signature("testsecret", &sts),
            "9NaGiOspFP5UPcwX8Iwt2YJXXuk="
        );
    }

    #[test]
    fn v2_sdk_unit_test_vector() {
        let sts = v2_string_to_sign("", &[("test", "ok")]);
        assert_eq!(
            v2_signature("accessKeySecret", &sts),
            "jHx/oHoHNrbVfhncHEvPdHXZwHU="
        );
    }

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn percent_encoding_examples() {
        assert_eq!(percent_encode("a b*c~d-e_f.g"), "a%20b%2Ac~d-e_f.g");
        assert_eq!(percent_encode("é/+="), "%C3%A9%2F%2B%3D");
        assert_eq!(percent_decode("a%20b%2Ac+d", true).unwrap(), "a b*c d");
        assert_eq!(percent_decode("a%2", false).unwrap(), "a%2");
        assert_eq!(percent_decode("%zz%", false).unwrap(), "%zz%");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn encode_keeps_only_unreserved(s in any::<String>()) {
                let e = percent_encode(&s);
                let mut chars = e.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '%' {
                        let h: String = chars.by_ref().take(2).collect();
                        prop_assert_eq!(h.len(), 2);
                        prop_assert!(h.chars().all(|x| x.is_ascii_digit() || ('A'..='F').contains(&x)));
                    } else {
                        prop_assert!(c.is_ascii_alphanumeric() || "-_.~".contains(c), "{c:?} left unencoded");
                    }
                }
            }

            #[test]
            fn decode_inverts_encode(s in any::<String>()) {
                prop_assert_eq!(percent_decode(&percent_encode(&s), false).unwrap(), s.clone());
                prop_assert_eq!(percent_decode(&percent_encode(&s), true).unwrap(), s);
            }

            #[test]
            fn query_round_trips(params in proptest::collection::vec((".{0,8}", ".{0,8}"), 0..6)) {
                let q = canonical_query(&params);
                let mut back = parse_query(&q, false).unwrap();
                let mut orig = params.clone();
                back.sort();
                orig.sort();
                prop_assert_eq!(back, orig);
            }
        }
    }
}
