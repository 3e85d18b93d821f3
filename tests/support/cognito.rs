//! The local Cognito (cognito-local, through tools/cognito-local.cjs) with the real
//! triggers: the user pool calls the Lambda Invoke API, served here, which runs
//! `on_signup::handle` with the event Cognito built, in the runtime of the test that
//! owns the pool. Attacks are made the way a user makes them: SignUp, ConfirmSignUp with
//! the code Cognito keeps, InitiateAuth, UpdateUserAttributes with the user's own token.
//!
//! One cognito-local per test process, started at first use on a free port; it ends
//! when the process ends. A test fails, never skips, when it cannot start.

use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, ChallengeNameType, MessageActionType,
};
use aws_sdk_cognitoidentityprovider::Client;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use training_imports::store::Store;

struct LocalCognito {
    endpoint: String,
    dir: std::path::PathBuf,
    /// Held for the life of the process: node ends when its standard input closes.
    _process: Mutex<std::process::Child>,
}

/// Each pool's triggers (with the clients of the test that made it, which lives while
/// its pool is used).
type Pools = HashMap<String, on_signup::Triggers>;
fn pools() -> &'static Mutex<Pools> {
    static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();
    POOLS.get_or_init(Default::default)
}

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn local_cognito() -> &'static LocalCognito {
    static COGNITO: OnceLock<LocalCognito> = OnceLock::new();
    COGNITO.get_or_init(|| {
        let lambda_port = serve_lambda_invoke();
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("cognito-local-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join(".cognito")).unwrap();
        let config = json!({
            "LambdaClient": { "endpoint": format!("http://127.0.0.1:{lambda_port}"), "region": "us-east-1",
                              "credentials": { "accessKeyId": "local", "secretAccessKey": "local-secret-key" } },
            "TriggerFunctions": { "PreSignUp": "on-signup", "PostConfirmation": "on-signup", "PostAuthentication": "on-signup" },
            "UserPoolDefaults": { "MfaConfiguration": "OFF" },
            "ServerConfig": { "hostname": "127.0.0.1", "port": port }
        });
        std::fs::write(dir.join(".cognito/config.json"), config.to_string()).unwrap();
        let node_modules = root().join(".local/node/node_modules");
        assert!(node_modules.join("cognito-local").exists(), "cognito-local is not installed in {}: run scripts/setup", node_modules.display());
        let log = std::fs::File::create(dir.join("cognito.log")).unwrap();
        let mut child = std::process::Command::new("node")
            .arg(root().join("tools/cognito-local.cjs"))
            .current_dir(&dir)
            .env("NODE_PATH", &node_modules)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("EXIT_WITH_STDIN", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("node starts cognito-local");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("cognito-local ended ({status}); its log: {}", std::fs::read_to_string(dir.join("cognito.log")).unwrap_or_default());
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "cognito-local did not start within 30 s; log in {}", dir.display());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        LocalCognito { endpoint: format!("http://127.0.0.1:{port}"), dir, _process: Mutex::new(child) }
    })
}

/// Serves the Lambda Invoke API on a free loopback port for cognito-local:
/// `POST /2015-03-31/functions/on-signup/invocations` runs the trigger with the event and
/// answers as Lambda does (a failed function: `X-Amz-Function-Error: Unhandled` and an
/// `errorMessage`).
fn serve_lambda_invoke() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Local tasks: the trigger's future need not be Send.
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::task::spawn_local(invoke_connection(stream));
            }
        });
    });
    port
}

async fn invoke_connection(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
    }
    let request_line = String::from_utf8_lossy(&buf[..head_end])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let event: Value =
        serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
    let (error, body) = if !request_line.contains("/functions/on-signup/invocations") {
        (
            true,
            json!({ "errorMessage": format!("no such function: {request_line}"), "errorType": "ResourceNotFound" }),
        )
    } else {
        invoke(event).await
    };
    let body = body.to_string();
    let extra = if error {
        "X-Amz-Function-Error: Unhandled\r\n"
    } else {
        ""
    };
    let answer = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Runs the trigger for the pool named in the event: (failed, answer).
async fn invoke(event: Value) -> (bool, Value) {
    let pool = event
        .get("userPoolId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(triggers) = pools().lock().unwrap().get(&pool).cloned() else {
        return (
            true,
            json!({ "errorMessage": format!("no test registered user pool {pool}"), "errorType": "TestSetup" }),
        );
    };
    match on_signup::handle(&triggers, event).await {
        Ok(returned) => (false, returned),
        Err(e) => (
            true,
            json!({ "errorMessage": e.to_string(), "errorType": "Refused" }),
        ),
    }
}

/// A Cognito client for the local Cognito.
pub async fn client() -> Client {
    let local = local_cognito();
    Client::new(&crate::sdk_config(&local.endpoint).await)
}

/// The triggers of a test's store, with a client for the local Cognito.
pub async fn triggers(store: &Store) -> on_signup::Triggers {
    on_signup::Triggers {
        store: store.clone(),
        users: client().await,
    }
}

/// Triggers for a benchmark: its events carry their organisation, so the user pool is
/// never called (a call would fail: the client points at a closed port).
pub fn offline_triggers(store: &Store) -> on_signup::Triggers {
    let config = aws_sdk_cognitoidentityprovider::Config::builder()
        .behavior_version(aws_sdk_cognitoidentityprovider::config::BehaviorVersion::latest())
        .region(aws_sdk_cognitoidentityprovider::config::Region::new(
            "us-east-1",
        ))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    on_signup::Triggers {
        store: store.clone(),
        users: Client::from_conf(config),
    }
}

/// A user pool of the local Cognito whose triggers run against `store`, set up as
/// template.yaml sets the deployed one: email or phone as the username, both verified by
/// a code, `custom:org_id` and `custom:employee_id` (which the app client cannot write).
pub struct Pool {
    pub users: Client,
    pub pool_id: String,
    pub client_id: String,
}

pub const PASSWORD: &str = "Str0ng-Passw0rd!";
const TEMPORARY: &str = "Temp-Passw0rd!1";

/// `verify_before_update`: whether email and phone changes wait for their code
/// (template.yaml's `AttributesRequireVerificationBeforeUpdate`). Attack tests leave it
/// off, so that the trigger alone must hold.
pub async fn user_pool(store: &Store, verify_before_update: bool) -> Pool {
    use aws_sdk_cognitoidentityprovider::types::{
        AttributeDataType, ExplicitAuthFlowsType, SchemaAttributeType,
        UserAttributeUpdateSettingsType, UsernameAttributeType, VerifiedAttributeType,
    };
    let users = client().await;
    let custom = |name: &str| {
        SchemaAttributeType::builder()
            .name(name)
            .attribute_data_type(AttributeDataType::String)
            .mutable(true)
            .build()
    };
    let mut create = users
        .create_user_pool()
        .pool_name(format!("test-{}", uuid::Uuid::new_v4().simple()))
        .username_attributes(UsernameAttributeType::Email)
        .username_attributes(UsernameAttributeType::PhoneNumber)
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .auto_verified_attributes(VerifiedAttributeType::PhoneNumber)
        .schema(custom("org_id"))
        .schema(custom("employee_id"));
    if verify_before_update {
        create = create.user_attribute_update_settings(
            UserAttributeUpdateSettingsType::builder()
                .attributes_require_verification_before_update(VerifiedAttributeType::Email)
                .attributes_require_verification_before_update(VerifiedAttributeType::PhoneNumber)
                .build(),
        );
    }
    let pool = create
        .send()
        .await
        .expect("the local Cognito creates a user pool");
    let pool_id = pool.user_pool.and_then(|p| p.id).unwrap();
    let app = users
        .create_user_pool_client()
        .user_pool_id(&pool_id)
        .client_name("page")
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .unwrap();
    let client_id = app.user_pool_client.and_then(|c| c.client_id).unwrap();
    let triggers = triggers(store).await;
    pools().lock().unwrap().insert(pool_id.clone(), triggers);
    Pool {
        users,
        pool_id,
        client_id,
    }
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<AttributeType> {
    pairs
        .iter()
        .map(|(k, v)| AttributeType::builder().name(*k).value(*v).build().unwrap())
        .collect()
}

impl Pool {
    /// An admin invites a person (AdminCreateUser, no message sent): returns their `sub`.
    pub async fn invite(&self, username: &str, attributes: &[(&str, &str)]) -> String {
        let out = self
            .users
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(username)
            .temporary_password(TEMPORARY)
            .message_action(MessageActionType::Suppress)
            .set_user_attributes(Some(attrs(attributes)))
            .send()
            .await
            .expect("the invitation is created");
        let user = out.user.unwrap();
        user.attributes
            .unwrap_or_default()
            .into_iter()
            .find(|a| a.name == "sub")
            .and_then(|a| a.value)
            .unwrap_or_else(|| user.username.unwrap())
    }

    /// The first sign-in of an invited person: the temporary password, then their own.
    /// Returns their access token.
    pub async fn first_sign_in(&self, username: &str) -> String {
        let out = self
            .users
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", TEMPORARY)
            .send()
            .await
            .expect("the temporary password signs in");
        assert_eq!(
            out.challenge_name,
            Some(ChallengeNameType::NewPasswordRequired)
        );
        let done = self
            .users
            .respond_to_auth_challenge()
            .client_id(&self.client_id)
            .challenge_name(ChallengeNameType::NewPasswordRequired)
            .session(out.session.unwrap_or_default())
            .challenge_responses("USERNAME", username)
            .challenge_responses("NEW_PASSWORD", PASSWORD)
            .send()
            .await
            .expect("a new password is set");
        done.authentication_result
            .and_then(|r| r.access_token)
            .unwrap()
    }

    /// A sign-in with the person's own password: their access token.
    pub async fn sign_in(&self, username: &str) -> String {
        let out = self
            .users
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", PASSWORD)
            .send()
            .await
            .expect("the person signs in");
        out.authentication_result
            .and_then(|r| r.access_token)
            .unwrap()
    }

    /// The user changes their own attributes with their token (what the app client allows).
    pub async fn update_own_attributes(&self, access_token: &str, attributes: &[(&str, &str)]) {
        self.users
            .update_user_attributes()
            .access_token(access_token)
            .set_user_attributes(Some(attrs(attributes)))
            .send()
            .await
            .expect("the user may write these attributes");
    }

    /// A self sign-up (SignUp) with an optional join code in the client metadata. Ok with
    /// the new account's `sub`, or the message Cognito answered with.
    pub async fn self_sign_up(
        &self,
        username: &str,
        attributes: &[(&str, &str)],
        join_code: Option<&str>,
    ) -> Result<String, String> {
        let mut req = self
            .users
            .sign_up()
            .client_id(&self.client_id)
            .username(username)
            .password(PASSWORD)
            .set_user_attributes(Some(attrs(attributes)));
        if let Some(code) = join_code {
            req = req.client_metadata(on_signup::JOIN_CODE_METADATA, code);
        }
        match req.send().await {
            Ok(out) => Ok(out.user_sub),
            Err(e) => Err(e
                .into_service_error()
                .meta()
                .message()
                .unwrap_or("no message")
                .to_string()),
        }
    }

    /// Confirms a sign-up with the code Cognito sent (read from cognito-local's store, as
    /// the person reads it from their inbox).
    pub async fn confirm_sign_up(&self, username: &str) {
        let code = self.code_sent_to(username);
        self.users
            .confirm_sign_up()
            .client_id(&self.client_id)
            .username(username)
            .confirmation_code(code)
            .send()
            .await
            .expect("the code confirms the sign-up");
    }

    fn code_sent_to(&self, username: &str) -> String {
        let path = local_cognito()
            .dir
            .join(format!(".cognito/db/{}.json", self.pool_id));
        let db: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let users = db["Users"].as_object().unwrap();
        users
            .values()
            .find(|u| {
                u["Username"] == username
                    || u["Attributes"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x["Value"] == username))
            })
            .and_then(|u| u["ConfirmationCode"].as_str())
            .unwrap_or_else(|| panic!("no confirmation code for {username}"))
            .to_string()
    }

    /// The user's attributes as Cognito holds them.
    pub async fn attributes_of(&self, username: &str) -> HashMap<String, String> {
        let out = self
            .users
            .admin_get_user()
            .user_pool_id(&self.pool_id)
            .username(username)
            .send()
            .await
            .unwrap();
        out.user_attributes
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.name, a.value.unwrap_or_default()))
            .collect()
    }
}
