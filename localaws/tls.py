"""HTTPS for the local stack: a throwaway certificate authority and a server certificate from it.

AWS endpoints only speak TLS, and the templates' bucket policies deny `aws:SecureTransport=false`,
so the stack serves HTTPS like they do. At start it makes a CA (valid one day, never reused) and a
certificate for 127.0.0.1, ::1, localhost and any extra names (a compose service name), writes the
CA to `<dir>/ca.pem` and hands clients that path: boto3 `verify=`, `AWS_CA_BUNDLE` for jobs, the
Airflow connection's `verify` extra, and `REQUESTS_CA_BUNDLE` for what fetches a presigned URL with
`requests` (MLflow's artifact downloads). The bundle holds the local CA alone: a client loads it on
every new connection (werkzeug closes each one), and with the ~150 public roots added that load
cost 80 ms per request; local runs reach nothing else over HTTPS. `cryptography` is already a pinned
dependency (Airflow needs it); the dozen builder calls below are what `trustme` would wrap.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class LocalCertificates:
    directory: Path

    @property
    def ca_bundle(self) -> Path:
        """The CA certificate (PEM): what a client trusts to reach the stack."""
        return self.directory / "ca.pem"

    @property
    def cert_chain(self) -> Path:
        return self.directory / "server.pem"

    @property
    def key(self) -> Path:
        return self.directory / "server-key.pem"

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_chain, self.key)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "localaws"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def create(directory: Path | None = None, hostnames: Iterable[str] = ()) -> LocalCertificates:
    """A fresh CA and a server certificate signed by it, written under `directory` (a new temporary
    directory by default). The server certificate names the loopback addresses and `hostnames`."""
    target = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="localaws-tls-"))
    target.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(minutes=5), now + VALIDITY

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("localaws CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    for host in hostnames:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            names.append(x509.DNSName(host))
            continue
        if not address.is_unspecified:  # 0.0.0.0 is where it listens, not a name clients use
            names.append(x509.IPAddress(address))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localaws"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(list(dict.fromkeys(names))), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    certificates = LocalCertificates(target)
    pem = serialization.Encoding.PEM
    certificates.ca_bundle.write_bytes(ca_cert.public_bytes(pem))
    certificates.cert_chain.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    certificates.key.touch(mode=0o600)
    certificates.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certificates
