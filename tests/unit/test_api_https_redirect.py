"""Plain HTTP to the API domain (issue 25): when the proxies answer it with 308 to HTTPS.

The decision is the sws_proxy role's own expression (rendered by ansible-core's templar, with
the fact roles/sws_tls sets), and the text is nginx.conf.j2's; nginx itself accepts it in
tests/integration/test_routes_nginx.py and answers it in test_tls_edge.py."""

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from tests.fixtures.proxy_role import ROLE, render_template


def redirects(mode: str, public: bool | None) -> bool:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables = {
        "sws_proxy_api_https_redirect": mode,
        "sws_proxy_api_redirects": trust_as_template(defaults["sws_proxy_api_redirects"]),
    }
    if public is not None:  # unset: a play without roles/sws_tls before it
        variables["sws_tls_api_certificate_public"] = public
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template("{{ sws_proxy_api_redirects }}"))


@pytest.mark.parametrize(
    ("mode", "public", "expected"),
    [
        ("auto", True, True),  # ACME's certificate: browsers and swsctl trust it
        ("auto", False, False),  # the local CA's: http:// clients keep working
        ("auto", None, False),
        ("always", False, True),
        ("never", True, False),
    ],
)
def test_the_redirect_follows_the_certificate_unless_the_operator_says(mode, public, expected):
    assert redirects(mode, public) is expected


def api_block(redirect: bool, port: int) -> str:
    text = render_template(
        "nginx.conf.j2", sws_proxy_api_redirects=redirect, sws_proxy_api_https_port=port
    )
    return text[text.index("server_name api.example.com;") :]


def test_the_api_block_redirects_plain_http_after_the_acme_answers():
    block = api_block(True, 443)
    redirect = 'if ($sws_scheme = "http") {\n                return 308 https://api.example.com$request_uri;'
    assert redirect in block
    assert block.index("location ^~ /.well-known/acme-challenge/") < block.index(redirect)
    assert "return 308 https://api.example.com:8443$request_uri;" in api_block(True, 8443)
    assert "return 308" not in api_block(False, 443)
