"""Shared pieces of the security tests (test_security_tls.py,
test_security_acl.py): a test PKI made with the `cryptography` package (a
root CA, an intermediate CA and a server certificate for `localhost` and
127.0.0.1), SCRAM verifiers computed here from a password (RFC 5802, the
form SKIFF_BOOTSTRAP_USER takes), a broker started with security settings,
client configurations for confluent-kafka, kafka-python, aiokafka and kcat,
the `skiff-broker user` CLI, and a raw-socket SASL client (PLAIN and SCRAM
written out here from the RFCs) for what clients do not expose: the exact
error code and message of each attempt, and what the broker answers before
authentication."""

import base64
import datetime
import hashlib
import hmac
import os
import secrets
import socket
import ssl
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import BROKER_BIN, Broker
from helpers import RawClient, kstr

SCRAM_HASHES = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}
ALL_MECHANISMS = "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"

SASL_AUTHENTICATION_FAILED = 58
TOPIC_AUTHORIZATION_FAILED = 29
GROUP_AUTHORIZATION_FAILED = 30
CLUSTER_AUTHORIZATION_FAILED = 31

# ------------------------------------------------------------------ test PKI


def _name(cn):
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Skiff tests"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(subject_cn, subject_key, issuer_cert, issuer_key, ca, sans=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name = issuer_cert.subject if issuer_cert is not None else _name(subject_cn)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject_cn))
        .issuer_name(issuer_name)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
    )
    if issuer_cert is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    else:
        alt = []
        for s in sans:
            try:
                import ipaddress

                alt.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                alt.append(x509.DNSName(s))
        b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    return b.sign(issuer_key if issuer_key is not None else subject_key, hashes.SHA256())


@dataclass
class Pki:
    """Files of one test PKI. `ca` is the only file clients trust (the root);
    `cert` holds the server certificate followed by the intermediate that
    signed it, so a client can only verify the server if the broker sends
    the whole chain from the file."""

    ca: Path
    cert: Path
    key: Path
    leaf_der: bytes


def make_pki(directory: Path, label="pki", sans=("localhost", "127.0.0.1")) -> Pki:
    """A fresh root CA, intermediate CA and server certificate for `sans`
    (DNS names or IP addresses) under directory/label; the key file 0600."""
    d = Path(directory) / label
    d.mkdir(parents=True, exist_ok=True)
    root_key, inter_key, leaf_key = _key(), _key(), _key()
    root = _cert(f"Skiff test root {label}", root_key, None, None, ca=True)
    inter = _cert(f"Skiff test intermediate {label}", inter_key, root, root_key, ca=True)
    leaf = _cert("skiff-broker", leaf_key, inter, inter_key, ca=False, sans=sans)
    (d / "ca.pem").write_bytes(_pem_cert(root))
    (d / "server.pem").write_bytes(_pem_cert(leaf) + _pem_cert(inter))
    key = d / "server.key"
    key.write_bytes(_pem_key(leaf_key))
    key.chmod(0o600)
    return Pki(ca=d / "ca.pem", cert=d / "server.pem", key=key, leaf_der=leaf.public_bytes(serialization.Encoding.DER))


# ---------------------------------------------------------------- SCRAM math


def scram_keys(mechanism, password: str, salt: bytes, iterations: int):
    """(StoredKey, ServerKey) of RFC 5802 for a password."""
    h = SCRAM_HASHES[mechanism]
    salted = hashlib.pbkdf2_hmac(h().name, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", h).digest()
    server_key = hmac.new(salted, b"Server Key", h).digest()
    return h(client_key).digest(), server_key


def bootstrap_user(name, mechanism, password, iterations=4096, salt=None):
    """SKIFF_BOOTSTRAP_USER's value: the SCRAM verifier of `password`
    (Kafka's text form), never the password itself."""
    salt = salt if salt is not None else os.urandom(32)
    stored, server = scram_keys(mechanism, password, salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return (
        f"{name}:{mechanism}:salt={b64(salt)},stored_key={b64(stored)},server_key={b64(server)},"
        f"iterations={iterations}"
    )


# ------------------------------------------------------------------- brokers


def secure_broker(workdir, protocol="SASL_SSL", pki=None, mechanisms=ALL_MECHANISMS, authorizer="none",
                  super_users=None, bootstrap=None, start=True, **extra):
    """A Broker (conftest) with security settings; `bootstrap` is a
    (name, mechanism, password) created through SKIFF_BOOTSTRAP_USER."""
    env = {"SKIFF_SECURITY_PROTOCOL": protocol, "SKIFF_AUTHORIZER": authorizer}
    if mechanisms is not None:
        env["SKIFF_SASL_ENABLED_MECHANISMS"] = mechanisms
    if pki is not None:
        env["SKIFF_TLS_CERT_FILE"] = str(pki.cert)
        env["SKIFF_TLS_KEY_FILE"] = str(pki.key)
    if super_users:
        env["SKIFF_SUPER_USERS"] = ";".join(f"User:{u}" for u in super_users)
    if bootstrap is not None:
        env["SKIFF_BOOTSTRAP_USER"] = bootstrap_user(*bootstrap)
    env.update({k: str(v) for k, v in extra.items()})
    b = Broker(Path(workdir), env=env)
    b.pki = pki
    b.protocol = protocol
    if start:
        b.start()
    return b


def user_cli(broker, *args, password=None, timeout=30):
    """`skiff-broker user ...` on the broker's database (running or not),
    with the broker's own environment; the password on stdin."""
    env = dict(os.environ)
    env.update(broker.extra_env)
    return subprocess.run(
        [BROKER_BIN, "--storage-engine", f"sqlite://{broker.db_path}", "user", *args],
        input=None if password is None else (password + "\n").encode(),
        capture_output=True,
        timeout=timeout,
        env=env,
    )


def add_user(broker, name, password, mechanism="all"):
    r = user_cli(broker, "add", name, "--mechanism", mechanism, password=password)
    assert r.returncode == 0, f"user add {name} exited {r.returncode}: {r.stdout!r} {r.stderr!r}"
    return r


def log_lines(broker):
    """The current run's log lines (stdout and stderr of the broker)."""
    return broker.log_path().read_text(errors="replace").splitlines()


# ------------------------------------------------------------ client configs


def ck_conf(broker, user=None, password=None, mechanism="SCRAM-SHA-512", host="127.0.0.1", ca=None, **extra):
    """confluent-kafka settings for the broker's protocol; librdkafka
    verifies the host name (ssl.endpoint.identification.algorithm=https is
    its default; set here as well so the test does not depend on it)."""
    c = {"bootstrap.servers": f"{host}:{broker.port}", "security.protocol": broker.protocol,
         "socket.timeout.ms": 10000}
    if "SSL" in broker.protocol:
        c["ssl.ca.location"] = str(ca or broker.pki.ca)
        c["ssl.endpoint.identification.algorithm"] = "https"
    if "SASL" in broker.protocol:
        c.update({"sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password})
    c.update(extra)
    return c


def kp_conf(broker, user, password, mechanism="SCRAM-SHA-512", host="127.0.0.1"):
    """kafka-python settings (ssl_check_hostname on)."""
    c = {
        "bootstrap_servers": f"{host}:{broker.port}",
        "security_protocol": broker.protocol,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }
    if "SSL" in broker.protocol:
        c.update({"ssl_cafile": str(broker.pki.ca), "ssl_check_hostname": True})
    return c


def aio_conf(broker, user, password, mechanism="SCRAM-SHA-512", host="127.0.0.1"):
    """aiokafka settings: an SSLContext trusting the test CA, with host name
    checking (create_ssl_context's default)."""
    from aiokafka.helpers import create_ssl_context

    ctx = create_ssl_context(cafile=str(broker.pki.ca))
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    return {
        "bootstrap_servers": f"{host}:{broker.port}",
        "security_protocol": broker.protocol,
        "ssl_context": ctx,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


def kcat_args(broker, user, password, mechanism="SCRAM-SHA-512", host="127.0.0.1"):
    return [
        "-b", f"{host}:{broker.port}",
        "-X", "socket.timeout.ms=10000",
        "-X", f"security.protocol={broker.protocol}",
        "-X", f"ssl.ca.location={broker.pki.ca}",
        "-X", "ssl.endpoint.identification.algorithm=https",
        "-X", f"sasl.mechanisms={mechanism}",
        "-X", f"sasl.username={user}",
        "-X", f"sasl.password={password}",
    ]


# ---------------------------------------------------------- raw SASL client


class SaslRawClient(RawClient):
    """RawClient over TLS (when the broker's protocol has it, verifying the
    test CA and host name) with SaslHandshake v1 / SaslAuthenticate v1
    written out by hand."""

    def __init__(self, broker, host="127.0.0.1", timeout=10.0, ca=None):
        super().__init__(broker, timeout=timeout)
        if "SSL" in broker.protocol:
            ctx = ssl.create_default_context(cafile=str(ca or broker.pki.ca))
            self.sock = ctx.wrap_socket(self.sock, server_hostname=host)

    def close(self, notify=True):
        """Closes the connection, over TLS with a close_notify first unless
        `notify` is False (a client that just drops the socket)."""
        if notify and isinstance(self.sock, ssl.SSLSocket):
            try:
                self.sock.settimeout(1)
                self.sock = self.sock.unwrap()
            except (OSError, ssl.SSLError):
                pass
        self.sock.close()

    def peer_cert_der(self):
        return self.sock.getpeercert(binary_form=True)

    def handshake(self, mechanism):
        """SaslHandshake v1: (error code, enabled mechanisms)."""
        resp = self.request(17, 1, kstr(mechanism))
        err, n = struct.unpack(">hi", resp[:6])
        pos, mechs = 6, []
        for _ in range(n):
            (ln,) = struct.unpack(">h", resp[pos : pos + 2])
            mechs.append(resp[pos + 2 : pos + 2 + ln].decode())
            pos += 2 + ln
        return err, mechs

    def authenticate(self, token: bytes):
        """SaslAuthenticate v1: (error code, error message, auth bytes)."""
        resp = self.request(36, 1, struct.pack(">i", len(token)) + token)
        (err,) = struct.unpack(">h", resp[:2])
        (ml,) = struct.unpack(">h", resp[2:4])
        msg = resp[4 : 4 + ml].decode(errors="replace") if ml >= 0 else None
        pos = 4 + max(ml, 0)
        (bl,) = struct.unpack(">i", resp[pos : pos + 4])
        return err, msg, resp[pos + 4 : pos + 4 + bl]

    def login(self, mechanism, user, password, before_proof=None):
        """A whole SASL exchange; returns (error code, message) of the step
        that ended it (0, None when authenticated and the server's final
        SCRAM message verified). `before_proof` is called just before the
        message the broker checks the password with is sent."""
        err, mechs = self.handshake(mechanism)
        if err:
            return err, f"handshake error, enabled {mechs}"
        if mechanism == "PLAIN":
            if before_proof:
                before_proof()
            err, msg, _ = self.authenticate(b"\0" + user.encode() + b"\0" + password.encode())
            return (err, msg) if err else (0, None)
        h = SCRAM_HASHES[mechanism]
        nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={nonce}"
        err, msg, server_first = self.authenticate(b"n,," + bare.encode())
        if err:
            return err, msg
        attrs = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
        assert attrs["r"].startswith(nonce), f"server nonce {attrs['r']!r} does not extend ours"
        salt, iterations = base64.b64decode(attrs["s"]), int(attrs["i"])
        salted = hashlib.pbkdf2_hmac(h().name, password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", h).digest()
        stored = h(client_key).digest()
        without_proof = f"c={base64.b64encode(b'n,,').decode()},r={attrs['r']}"
        auth_message = f"{bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.new(stored, auth_message, h).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        if before_proof:
            before_proof()
        err, msg, server_final = self.authenticate(f"{without_proof},p={base64.b64encode(proof).decode()}".encode())
        if err:
            return err, msg
        server_key = hmac.new(salted, b"Server Key", h).digest()
        expected = base64.b64encode(hmac.new(server_key, auth_message, h).digest()).decode()
        assert server_final.decode() == f"v={expected}", f"server signature mismatch: {server_final!r}"
        return 0, None


def raw_login(broker, mechanism, user, password, host="127.0.0.1"):
    """One fresh connection, one SASL attempt: (error code, message)."""
    c = SaslRawClient(broker, host=host)
    try:
        return c.login(mechanism, user, password)
    finally:
        c.close()


def closed_within(sock, seconds):
    """True if the peer closes `sock` within `seconds` (whatever it sends
    before that is read and dropped)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not sock.recv(1 << 16):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
    return False
