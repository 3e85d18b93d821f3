//! Join codes: what an organisation hands out (a poster, an onboarding letter) so that
//! its people can sign themselves up. Written for people to type: ten characters from an
//! alphabet without look-alikes (no 0/O, 1/I), shown in two groups, read back whatever
//! the case, spaces or dashes.

use std::fmt;

const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const LEN: usize = 10;

/// A well-formed join code (normalised: ten characters of the alphabet, upper case).
/// 50 random bits: guessing one through Cognito's sign-up (throttled per pool) is hopeless.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JoinCode(String);

impl JoinCode {
    pub fn generate() -> JoinCode {
        let mut bits = uuid::Uuid::new_v4().as_u128();
        let code = (0..LEN)
            .map(|_| {
                let c = ALPHABET[(bits & 31) as usize] as char;
                bits >>= 5;
                c
            })
            .collect();
        JoinCode(code)
    }

    /// Accepts what a person types: any case, spaces and dashes ignored.
    pub fn parse(typed: &str) -> Result<JoinCode, String> {
        let code: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if code.len() != LEN || !code.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err("a join code is ten letters and digits, such as 7KQ2M-XW9RB".to_string());
        }
        Ok(JoinCode(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shown in two groups of five: `7KQ2M-XW9RB`.
impl fmt::Display for JoinCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", &self.0[..5], &self.0[5..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_code_is_read_back_however_it_is_typed() {
        let code = JoinCode::generate();
        assert_eq!(JoinCode::parse(&code.to_string()).unwrap(), code);
        assert_eq!(
            JoinCode::parse(&format!(" {} ", code.as_str().to_lowercase())).unwrap(),
            code
        );
        assert_ne!(JoinCode::generate(), code);
    }

    #[test]
    fn look_alikes_and_wrong_lengths_are_not_join_codes() {
        assert!(JoinCode::parse("7KQ2M-XW9RB").is_ok());
        assert!(
            JoinCode::parse("7KQ2M-XW9R0").is_err(),
            "0 is not in the alphabet"
        );
        assert!(JoinCode::parse("7KQ2M-XW9R").is_err());
        assert!(JoinCode::parse("").is_err());
        assert!(JoinCode::parse("7KQ2M#XW9RB").is_err());
    }
}
