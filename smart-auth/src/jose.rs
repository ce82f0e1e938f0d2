//! JSON Web Signatures (compact form) and keys, over aws-lc.
//!
//! Only three algorithms exist here: RS256 (our access and id tokens), RS384 and ES384 (client
//! assertions of SMART Backend Services). Every verification names the algorithms it accepts, and
//! a key is only ever used with its own algorithm family, so `alg: none` and HS256 signed with
//! our public key (the algorithm-confusion attack) are refused before any cryptography runs.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a JWS was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// Not three base64url parts of JSON, or too large.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// An algorithm we do not accept here.
    #[error("algorithm '{0}' is not accepted")]
    Algorithm(String),
    /// No key with this `kid` (or no `kid`).
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// A key that cannot be used.
    #[error("unusable key: {0}")]
    Key(String),
}

/// The algorithms we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// ECDSA on P-384 with SHA-384.
    Es384,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Es384 => "ES384",
        }
    }

    fn from_name(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "RS384" => Some(Alg::Rs384),
            "ES384" => Some(Alg::Es384),
            _ => None,
        }
    }
}

/// base64url without padding.
pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes base64url without padding.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JoseError::Malformed("bad base64url"))
}

/// The protected header fields we read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Header {
    /// The algorithm.
    pub alg: String,
    /// The key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The type (`JWT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// A JWKS URL (client assertions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jku: Option<String>,
}

/// A token split and parsed, not yet verified.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// The protected header.
    pub header: Header,
    /// The claims.
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Unverified {
    /// Splits and parses a compact JWS. Nothing is trusted yet.
    pub fn parse(token: &str) -> Result<Unverified, JoseError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JoseError::Malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::Malformed("not three parts"));
        };
        let header: Header = serde_json::from_slice(&b64_decode(header)?)
            .map_err(|_| JoseError::Malformed("bad header"))?;
        let claims: Map<String, Value> = serde_json::from_slice(&b64_decode(payload)?)
            .map_err(|_| JoseError::Malformed("bad claims"))?;
        let signature = b64_decode(signature)?;
        let signing_input =
            token[..token.len() - token.rsplit('.').next().map_or(0, str::len) - 1].to_owned();
        Ok(Unverified {
            header,
            claims,
            signing_input,
            signature,
        })
    }

    /// The algorithm of the header if it is one of `accepted`.
    pub fn alg(&self, accepted: &[Alg]) -> Result<Alg, JoseError> {
        Alg::from_name(&self.header.alg)
            .filter(|alg| accepted.contains(alg))
            .ok_or_else(|| JoseError::Algorithm(self.header.alg.clone()))
    }

    /// Verifies the signature with `key` for one of `accepted`, and returns the claims.
    pub fn verify(
        self,
        key: &PublicJwk,
        accepted: &[Alg],
    ) -> Result<Map<String, Value>, JoseError> {
        let alg = self.alg(accepted)?;
        key.verify(alg, self.signing_input.as_bytes(), &self.signature)?;
        Ok(self.claims)
    }

    /// A claim as a string.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

/// A public key, as published in a JWKS or registered by a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicJwk {
    /// An RSA key (`n`, `e`, big-endian).
    Rsa {
        /// The key id.
        kid: Option<String>,
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
    /// A P-384 key (uncompressed point `04 || x || y`).
    P384 {
        /// The key id.
        kid: Option<String>,
        /// The uncompressed point.
        point: Vec<u8>,
    },
}

impl PublicJwk {
    /// Reads a JWK (`kty` RSA, or EC on P-384). Private members are ignored; other key types are
    /// refused.
    pub fn from_json(jwk: &Value) -> Result<PublicJwk, JoseError> {
        let field = |name: &str| -> Result<Vec<u8>, JoseError> {
            b64_decode(
                jwk.get(name)
                    .and_then(Value::as_str)
                    .ok_or_else(|| JoseError::Key(format!("no '{name}'")))?,
            )
        };
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        match jwk.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let n = field("n")?;
                if n.len() < 256 {
                    return Err(JoseError::Key("RSA keys have at least 2048 bits".into()));
                }
                Ok(PublicJwk::Rsa {
                    kid,
                    n,
                    e: field("e")?,
                })
            }
            Some("EC") if jwk.get("crv").and_then(Value::as_str) == Some("P-384") => {
                let (x, y) = (field("x")?, field("y")?);
                if x.len() != 48 || y.len() != 48 {
                    return Err(JoseError::Key("bad P-384 coordinates".into()));
                }
                let mut point = Vec::with_capacity(97);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Ok(PublicJwk::P384 { kid, point })
            }
            _ => Err(JoseError::Key(
                "only RSA and EC P-384 keys are accepted".into(),
            )),
        }
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        match self {
            PublicJwk::Rsa { kid, .. } | PublicJwk::P384 { kid, .. } => kid.as_deref(),
        }
    }

    /// Verifies a signature; the algorithm must fit the key's type.
    pub fn verify(&self, alg: Alg, message: &[u8], sig: &[u8]) -> Result<(), JoseError> {
        let verified =
            match (self, alg) {
                (PublicJwk::Rsa { n, e, .. }, Alg::Rs256) => RsaPublicKeyComponents { n, e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig),
                (PublicJwk::Rsa { n, e, .. }, Alg::Rs384) => RsaPublicKeyComponents { n, e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA384, message, sig),
                (PublicJwk::P384 { point, .. }, Alg::Es384) => {
                    UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                        .verify(message, sig)
                }
                _ => return Err(JoseError::Algorithm(alg.name().into())),
            };
        verified.map_err(|_| JoseError::Signature)
    }

    /// The JWK as JSON (public members only).
    pub fn to_json(&self, alg: Option<Alg>) -> Value {
        let mut jwk = Map::new();
        match self {
            PublicJwk::Rsa { kid, n, e } => {
                jwk.insert("kty".into(), "RSA".into());
                if let Some(kid) = kid {
                    jwk.insert("kid".into(), kid.as_str().into());
                }
                jwk.insert("n".into(), b64(n).into());
                jwk.insert("e".into(), b64(e).into());
            }
            PublicJwk::P384 { kid, point } => {
                jwk.insert("kty".into(), "EC".into());
                jwk.insert("crv".into(), "P-384".into());
                if let Some(kid) = kid {
                    jwk.insert("kid".into(), kid.as_str().into());
                }
                jwk.insert("x".into(), b64(&point[1..49]).into());
                jwk.insert("y".into(), b64(&point[49..]).into());
            }
        }
        if let Some(alg) = alg {
            jwk.insert("alg".into(), alg.name().into());
        }
        jwk.insert("use".into(), "sig".into());
        Value::Object(jwk)
    }
}

/// An RSA private key that signs our RS256 tokens.
#[derive(Debug)]
pub struct SigningKey {
    kid: String,
    pair: KeyPair,
    public: PublicJwk,
}

impl SigningKey {
    /// A new 2048-bit key.
    pub fn generate(kid: String) -> Result<SigningKey, JoseError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| JoseError::Key("key generation failed".into()))?;
        SigningKey::from_pair(kid, pair)
    }

    /// A key from its PKCS#8 DER form.
    pub fn from_pkcs8(kid: String, der: &[u8]) -> Result<SigningKey, JoseError> {
        let pair = KeyPair::from_pkcs8(der).map_err(|e| JoseError::Key(e.to_string()))?;
        SigningKey::from_pair(kid, pair)
    }

    fn from_pair(kid: String, pair: KeyPair) -> Result<SigningKey, JoseError> {
        use aws_lc_rs::signature::KeyPair as _;
        let public = pair.public_key();
        let public = PublicJwk::Rsa {
            kid: Some(kid.clone()),
            n: public.modulus().big_endian_without_leading_zero().to_vec(),
            e: public.exponent().big_endian_without_leading_zero().to_vec(),
        };
        Ok(SigningKey { kid, pair, public })
    }

    /// The PKCS#8 DER form, to store.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, JoseError> {
        self.pair
            .as_der()
            .map(|der| der.as_ref().to_vec())
            .map_err(|_| JoseError::Key("cannot export the key".into()))
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn public(&self) -> &PublicJwk {
        &self.public
    }

    /// Signs claims as an RS256 JWT with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> Result<String, JoseError> {
        let header = Header {
            alg: "RS256".into(),
            kid: Some(self.kid.clone()),
            typ: Some("JWT".into()),
            jku: None,
        };
        let header = serde_json::to_vec(&header).map_err(|_| JoseError::Malformed("header"))?;
        let claims = serde_json::to_vec(claims).map_err(|_| JoseError::Malformed("claims"))?;
        let mut token = format!("{}.{}", b64(&header), b64(&claims));
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                token.as_bytes(),
                &mut sig,
            )
            .map_err(|_| JoseError::Key("signing failed".into()))?;
        token.push('.');
        token.push_str(&b64(&sig));
        Ok(token)
    }
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// `n` random bytes from the system's generator, base64url: tokens, codes, secrets, ids.
pub fn random_token(bytes: usize) -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut buffer = vec![0; bytes];
    SystemRandom::new()
        .fill(&mut buffer)
        .expect("the system random generator failed");
    b64(&buffer)
}

/// Constant-time equality of two byte strings of public length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_rs256() {
        let key = SigningKey::generate("k1".into()).unwrap();
        let token = key.sign(&serde_json::json!({"sub": "a"})).unwrap();
        let parsed = Unverified::parse(&token).unwrap();
        assert_eq!(parsed.header.kid.as_deref(), Some("k1"));
        let claims = parsed.verify(key.public(), &[Alg::Rs256]).unwrap();
        assert_eq!(claims["sub"], "a");
        // The same token refused when RS256 is not accepted.
        let parsed = Unverified::parse(&token).unwrap();
        assert!(matches!(
            parsed.verify(key.public(), &[Alg::Rs384]),
            Err(JoseError::Algorithm(_))
        ));
        // Round trip through PKCS#8 and the JWK form.
        let again = SigningKey::from_pkcs8("k1".into(), &key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(again.public(), key.public());
        let jwk = PublicJwk::from_json(&key.public().to_json(Some(Alg::Rs256))).unwrap();
        assert_eq!(&jwk, key.public());
    }

    #[test]
    fn none_and_hmac_are_refused() {
        let key = SigningKey::generate("k1".into()).unwrap();
        let token = key.sign(&serde_json::json!({"sub": "a"})).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        for alg in ["none", "HS256"] {
            let header = b64(format!(r#"{{"alg":"{alg}","kid":"k1"}}"#).as_bytes());
            let forged = format!("{header}.{payload}.{}", b64(b"x"));
            let parsed = Unverified::parse(&forged).unwrap();
            assert_eq!(
                parsed.verify(key.public(), &[Alg::Rs256]),
                Err(JoseError::Algorithm(alg.into()))
            );
        }
        // A tampered payload.
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = b64(br#"{"sub":"b"}"#);
        parts[1] = &other;
        let parsed = Unverified::parse(&parts.join(".")).unwrap();
        assert_eq!(
            parsed.verify(key.public(), &[Alg::Rs256]),
            Err(JoseError::Signature)
        );
        assert!(Unverified::parse("a.b").is_err());
        assert!(Unverified::parse("a.b.c.d").is_err());
    }
}
