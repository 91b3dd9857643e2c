"""What a request that got no answer tells the user: the API is unreachable or too slow, TLS
failed (a certificate not verified, or no TLS at that address), or the CA file is unusable."""

from __future__ import annotations

import ssl

import requests

from swsctl.errors import InvalidInput, SwsError, Unreachable


def transport_error(
    err: OSError,
    base: str,
    *,
    connect_timeout: float,
    read_timeout: float,
    ca_cert: str | None,
) -> SwsError:
    """The domain exception for a request to `base` that failed before any answer."""
    if isinstance(err, requests.exceptions.SSLError):
        return tls_error(err, base, ca_cert)
    if isinstance(err, requests.Timeout):
        return Unreachable(
            f"{base} did not answer in time (connect {connect_timeout:g}s, "
            f"read {read_timeout:g}s); check the address, or raise --request-timeout."
        )
    if isinstance(err, requests.ConnectionError):
        return Unreachable(
            f"cannot reach the SWS API at {base} ({_reason(err)}); check the address "
            "with `swsctl configure` and that the host is up."
        )
    if isinstance(err, requests.exceptions.InvalidURL) or not isinstance(
        err, requests.RequestException
    ):
        # A missing or unreadable CA file from the config surfaces here.
        return InvalidInput(f"cannot send the request to {base}: {err}")
    return Unreachable(f"the request to {base} failed: {err}")


def tls_error(err: requests.exceptions.SSLError, base: str, ca_cert: str | None) -> Unreachable:
    reason = _reason(err).rstrip(".")
    if _cert_verification(err) is None:
        return Unreachable(
            f"TLS failed with {base} ({reason}); is an https server listening there? "
            "For a plain-HTTP API use an http:// address."
        )
    if "mismatch" in reason:
        hint = "use the name the certificate was issued for as the API address"
    elif ca_cert:
        hint = f"the CA certificate {ca_cert} does not vouch for it"
    else:
        hint = (
            "if the server uses a private certificate, pass its CA with --ca-cert "
            "(or SWS_CA_CERT, or `swsctl configure --ca-cert`)"
        )
    return Unreachable(
        f"TLS failed with {base}: the server's certificate could not be verified "
        f"({reason}); {hint}."
    )


def _cert_verification(err: Exception) -> ssl.SSLCertVerificationError | None:
    return next((e for e in _causes(err) if isinstance(e, ssl.SSLCertVerificationError)), None)


def _reason(err: Exception) -> str:
    """The innermost cause of a requests failure: the part that says what went wrong."""
    chain = _causes(err)
    for inner in reversed(chain):
        if isinstance(inner, ssl.SSLCertVerificationError):
            return inner.verify_message or "certificate verify failed"
        if isinstance(inner, ssl.SSLError):
            return inner.reason or str(inner)
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror
    return str(chain[-1]) or type(chain[-1]).__name__


def _causes(err: BaseException) -> list[BaseException]:
    """The exception and what it wraps, outermost first (requests nests urllib3 nests ssl)."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and len(chain) < 10:
        chain.append(current)
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException) and current.args:
            nested = current.args[0]
        if not isinstance(nested, BaseException):
            nested = current.__cause__ or current.__context__
        current = nested
    return chain
