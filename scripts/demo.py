#!/usr/bin/env python3
"""The end-to-end demo against the running local stack (scripts/local-stack starts it).

Seeds a demo organisation, imports a CSV with ready, pending, error and skipped rows,
prints the validation summary, commits, invites the pending person through the local
Cognito and signs them in for the first time (which fires the real PostAuthentication
trigger: an invited person's sign-up) and shows the completion applied.
Uses only the public API and Cognito's own API, as a user would.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

API = os.environ.get("API_URL", "http://127.0.0.1:9000/lambda-url/import-api")
COGNITO = os.environ.get("COGNITO_URL", "http://127.0.0.1:9229")
ORG = os.environ.get("LOCAL_DEV_ORG_ID", "demo")
POOL_FILE = os.environ.get("COGNITO_POOL_FILE", ".local/run/cognito-pool.json")
RUN = str(int(time.time()))  # fresh people on every run of the demo


def call(method, path, body=None, content_type="application/json"):
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method, headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def must(expected, result, what):
    status, body = result
    if status != expected:
        sys.exit(f"demo: {what} answered {status}, expected {expected}: {json.dumps(body)}")
    return body


def cognito(action, payload):
    req = urllib.request.Request(
        COGNITO + "/",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"content-type": "application/x-amz-json-1.1", "x-amz-target": f"AWSCognitoIdentityProviderService.{action}"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


def sign_up(pool, client, email, name):
    """Invites a person as an admin does (AdminCreateUser sets their organisation; Cognito
    sends no PostConfirmation for such accounts), then signs them in for the first time,
    setting their own password: that sign-in (PostAuthentication) is their sign-up."""
    out = cognito("AdminCreateUser", {
        "UserPoolId": pool, "Username": email, "TemporaryPassword": "Invite-passw0rd!", "MessageAction": "SUPPRESS",
        "UserAttributes": [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}, {"Name": "name", "Value": name},
                           {"Name": "custom:org_id", "Value": ORG}],
    })
    challenge = cognito("InitiateAuth", {"ClientId": client, "AuthFlow": "USER_PASSWORD_AUTH",
                                         "AuthParameters": {"USERNAME": email, "PASSWORD": "Invite-passw0rd!"}})
    cognito("RespondToAuthChallenge", {"ClientId": client, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": challenge["Session"],
                                       "ChallengeResponses": {"USERNAME": email, "NEW_PASSWORD": "Demo-passw0rd!"}})
    return next(a["Value"] for a in out["User"]["Attributes"] if a["Name"] == "sub")


def wait_for(import_id, statuses):
    for _ in range(600):
        imp = must(200, call("GET", f"/imports/{import_id}"), "summary")["import"]
        if imp["status"] in statuses:
            return imp
        time.sleep(0.5)
    sys.exit(f"demo: import {import_id} did not reach {statuses}")


def show_summary(imp):
    o, s = imp["outcomes"], imp["statuses"]
    print(f"  status {imp['status']}: {imp['rows_total']} rows -> ready {o['ready']}, pending {o['pending']}, "
          f"error {o['error']}, skipped {o['skipped']}")
    if imp["status"] in ("importing", "imported"):
        print(f"  after import: imported {s['imported']}, pending {s['pending']}, applied {s['applied']}, "
              f"deleted {s['deleted']}, not imported {s['not_imported']}")


def main():
    with open(POOL_FILE) as f:
        pool = json.load(f)
    print(f"== Demo organisation '{ORG}' (API {API})")
    existing = {t["training_id"] for t in must(200, call("GET", "/trainings"), "trainings")["trainings"]}
    for tid, title, published in [("forklift", "Forklift Safety", True), ("first-aid", "First Aid", True), ("fire-drill", "Fire Drill 2025", False)]:
        if tid not in existing:
            must(201, call("POST", "/trainings", {"training_id": tid, "title": title, "published": published}), "create training")
    print("  trainings: Forklift Safety, First Aid (published), Fire Drill 2025 (not published)")
    ana_email, bo_email = f"ana.{RUN}@example.com", f"bo.{RUN}@example.com"
    ana = sign_up(pool["pool"], pool["client"], ana_email, "Ana Lopez")
    print(f"  Ana signed up already (invited, signed in: {ana_email}); Bo ({bo_email}) has not")

    csv = (
        "Email,Course,Date Completed,Notes\n"
        f"{ana_email.upper()},Forklift Safety,2024-03-01,ready: Ana has signed up\n"
        f"{bo_email},first-aid,15/03/2024,pending: Bo has not signed up yet\n"
        f"{ana_email},Fire Drill 2025,2024-03-05,error: training not published\n"
        "not-an-email,First Aid,2024-03-06,error: bad email\n"
        f"{ana_email},Forklift Safety,01/03/2024,skipped: same as line 2\n"
    )
    print("\n== Upload (pasted CSV, email matching)\n" + "\n".join("  " + l for l in csv.splitlines()))
    created = must(201, call("POST", "/imports", {"method": "email", "file_name": "demo.csv", "csv": csv}), "create import")
    import_id = created["import"]["import_id"]
    imp = wait_for(import_id, ("validated", "failed"))
    print(f"\n== Validation summary (import {import_id})")
    show_summary(imp)
    for outcome in ("error", "skipped"):
        for row in must(200, call("GET", f"/imports/{import_id}/rows?outcome={outcome}"), "rows")["rows"]:
            for issue in row["issues"]:
                col = f" [{issue['column']}]" if issue.get("column") else ""
                print(f"  line {row['row']} {outcome.upper()} {issue['code']}{col}: {issue['message']}")

    status, body = call("POST", f"/imports/{import_id}/commit", {})
    print(f"\n== Import without skipping errors -> {status} {body.get('code')}: {body.get('detail')}")
    must(202, call("POST", f"/imports/{import_id}/commit", {"skip_invalid_rows": True}), "commit")
    imp = wait_for(import_id, ("imported", "failed"))
    print("== Import with skip_invalid_rows=true")
    show_summary(imp)
    done = must(200, call("GET", f"/people/{ana}/completions"), "completions")["completions"]
    print(f"  Ana's Completed tab: {[(c['training_title'], c['completed_on']) for c in done]}")

    print(f"\n== Bo, invited through the local Cognito, signs in for the first time ({bo_email})")
    bo = sign_up(pool["pool"], pool["client"], bo_email, "Bo Chen")
    imp = wait_for(import_id, ("imported",))
    show_summary(imp)
    done = must(200, call("GET", f"/people/{bo}/completions"), "completions")["completions"]
    print(f"  Bo's Completed tab: {[(c['training_title'], c['completed_on']) for c in done]}")
    applied = must(200, call("GET", f"/imports/{import_id}/rows?status=applied"), "rows")["rows"]
    status, body = call("DELETE", f"/imports/{import_id}/rows/{applied[0]['row']}")
    print(f"  deleting Bo's applied row -> {status} {body['code']}")
    if imp["statuses"]["applied"] != 1 or len(done) != 1:
        sys.exit("demo: Bo's pending row was not applied")
    print(f"\nDemo finished: import {import_id}")


if __name__ == "__main__":
    main()
