"""Drives the SMART flows of the PyPI `fhirclient` (smart-on-fhir/client-py) against our server.

The client does what it does for any SMART server: reads the CapabilityStatement's oauth-uris,
builds the authorize URL (aud, state, PKCE S256), exchanges the code, signs requests, and
refreshes. A scripted "browser" (requests) fills in our login and consent forms in between,
submitting every form with its default choices.

Usage: python_fhirclient.py BASE CLIENT_ID REDIRECT_URI USERNAME PASSWORD PATIENT_ID
       BACKEND_CLIENT_ID BACKEND_KEY_PEM_FILE BACKEND_KID
Prints one line per checked step and exits non-zero on the first failure.
"""

import sys
import time
import uuid
from html.parser import HTMLParser
from urllib.parse import urljoin

import jwt
import requests
from fhirclient import client


class Forms(HTMLParser):
    """The forms of a page: action, method and the values a browser would submit by default."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": []})
        elif not self.forms:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button") or "name" not in a:
                return
            self.forms[-1]["fields"].append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select is not None:
            self.forms[-1]["fields"].append((self._select, a.get("value", "")))
            self._select = None


def submit_first_form(session, page_url, html, overrides):
    parser = Forms()
    parser.feed(html)
    if not parser.forms:
        raise SystemExit(f"no form on {page_url}: {html[:500]}")
    form = parser.forms[0]
    fields = [(k, overrides.get(k, v)) for k, v in form["fields"]]
    names = {k for k, _ in fields}
    fields += [(k, v) for k, v in overrides.items() if k not in names]
    action = urljoin(page_url, form["action"] or page_url)
    return session.post(action, data=fields, allow_redirects=False)


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAILED: {message}")
    print(f"ok: {message}")


def code_flow(base, client_id, redirect_uri, username, password, patient_id):
    settings = {
        "app_id": client_id,
        "api_base": base,
        "redirect_uri": redirect_uri,
        "scope": "launch/patient openid fhirUser patient/*.rs offline_access",
    }
    smart = client.FHIRClient(settings=settings)
    url = smart.authorize_url
    check(url is not None and "code_challenge_method=S256" in url, "authorize URL from the CapabilityStatement, with PKCE S256")
    browser = requests.Session()
    response = browser.get(url, allow_redirects=False)
    check(response.status_code == 200, f"login page ({response.status_code})")
    response = submit_first_form(browser, response.url, response.text, {"username": username, "password": password})
    # After the login: the consent page, directly or after a redirect.
    for _ in range(3):
        if response.status_code in (302, 303):
            location = urljoin(response.url, response.headers["location"])
            if location.startswith(redirect_uri):
                break
            response = browser.get(location, allow_redirects=False)
        elif response.status_code == 200:
            response = submit_first_form(browser, response.url, response.text, {"decision": "approve"})
        else:
            raise SystemExit(f"FAILED: unexpected {response.status_code}: {response.text[:500]}")
    location = response.headers.get("location", "")
    check(location.startswith(redirect_uri) and "code=" in location, "redirected back with a code")
    smart.handle_callback(location)
    check(smart.ready, "code exchanged for a token")
    check(smart.patient_id == patient_id, f"patient context {smart.patient_id}")
    patient = smart.server.request_json(f"Patient/{patient_id}")
    check(patient["id"] == patient_id, "read the patient with the token")
    old_token = smart.server.auth.access_token
    smart.reauthorize()
    check(smart.server.auth.access_token not in (None, old_token), "refreshed: a new access token")
    patient = smart.server.request_json(f"Patient/{patient_id}")
    check(patient["id"] == patient_id, "read the patient with the refreshed token")


def backend_services(base, client_id, key_file, kid):
    with open(key_file) as f:
        key = f.read()
    # A backend service finds the token endpoint in the SMART configuration.
    config = requests.get(f"{base}/.well-known/smart-configuration").json()
    token_uri = config["token_endpoint"]
    check("private_key_jwt" in config["token_endpoint_auth_methods_supported"], "private_key_jwt advertised")
    now = int(time.time())
    assertion = jwt.encode(
        {"iss": client_id, "sub": client_id, "aud": token_uri, "exp": now + 240, "jti": str(uuid.uuid4())},
        key,
        algorithm="RS384",
        headers={"kid": kid},
    )
    smart = client.FHIRClient(
        settings={"app_id": client_id, "api_base": base, "scope": "system/Patient.rs", "jwt_token": assertion}
    )
    smart.prepare()
    check(smart.server.auth._token_uri == token_uri, "the CapabilityStatement names the same token endpoint")
    smart.authorize()
    check(smart.server.auth.access_token is not None, "backend services token (private_key_jwt, RS384)")
    bundle = smart.server.request_json("Patient?_count=1")
    check(bundle["resourceType"] == "Bundle" and bundle.get("total", 0) >= 1, "searched with the backend token")


if __name__ == "__main__":
    (base, client_id, redirect_uri, username, password, patient_id, backend_id, key_file, kid) = sys.argv[1:10]
    code_flow(base, client_id, redirect_uri, username, password, patient_id)
    backend_services(base, backend_id, key_file, kid)
    print("all passed")
