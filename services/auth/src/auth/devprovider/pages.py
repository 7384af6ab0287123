"""The two HTML pages: pick or type an account, and the error a browser sees when the client or
its redirect URI is wrong. Plain forms: no script, no style, nothing fetched from elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from urllib.parse import urlsplit

from auth.devprovider.accounts import DEMO_ACCOUNTS
from auth.devprovider.authorize import AuthorizeRequest

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - local identity provider</title>
</head>
<body>
<main>
<h1>{title}</h1>
{body}</main>
</body>
</html>
"""

# Three forms, each carrying the authorization request in hidden fields: `action` is relative so
# the page also works behind a proxy that mounts the provider under a path.
_LOGIN = """<p>to <strong>{client}</strong> with the local development identity provider.
This is not Google: there is no password, and any account is approved.</p>
{notes}<form method="post" action="authorize">
{hidden}<fieldset>
<legend>Choose an account</legend>
<ul>
{accounts}</ul>
</fieldset>
</form>
<form method="post" action="authorize">
{hidden}<fieldset>
<legend>Or use another account</legend>
<p><label>Email <input type="email" name="email" required maxlength="254" autocomplete="email">
</label></p>
<p><label>Name <input type="text" name="name" maxlength="100" autocomplete="name"></label></p>
<p><button type="submit">Continue</button></p>
</fieldset>
</form>
<form method="post" action="authorize">
{hidden}<p><button type="submit" name="decision" value="deny">Cancel</button></p>
</form>
"""


def page_headers(redirect_uri: str | None = None) -> dict[str, str]:
    # Chrome applies form-action to the redirect that follows a POST too, so the client's origin
    # is allowed alongside ours, or approving would be blocked on its way back.
    form_action = "'self'"
    if redirect_uri is not None:
        parts = urlsplit(redirect_uri)
        form_action += f" {parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; form-action {form_action}; frame-ancestors 'none'; "
            "base-uri 'none'"
        ),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def login_page(
    request: AuthorizeRequest, forwarded: Mapping[str, str], problem: str | None = None
) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">\n'
        for name, value in forwarded.items()
    )
    # Like Google's `hd` parameter, a domain narrows the choice; the ID token is what counts.
    only = request.hd if request.hd not in (None, "*") else None
    accounts = "".join(
        f'<li><button type="submit" name="account" value="{escape(a.email)}">'
        f"{escape(a.name)} &lt;{escape(a.email)}&gt;</button></li>\n"
        for a in DEMO_ACCOUNTS
        if only in (None, a.domain)
    )
    notes = f'<p role="alert"><strong>{escape(problem)}</strong></p>\n' if problem else ""
    if only is not None:
        notes += f"<p>The application asks for an account of {escape(only)}.</p>\n"
    body = _LOGIN.format(
        client=escape(request.client.client_id), notes=notes, hidden=hidden, accounts=accounts
    )
    return _PAGE.format(title="Sign in", body=body)


def error_page(message: str) -> str:
    body = (
        f"<p>{escape(message)}</p>\n"
        "<p>The application that sent you here is misconfigured; nothing was sent back to it.</p>\n"
    )
    return _PAGE.format(title="Sign-in request refused", body=body)
