"""Security settings for the benchmark brokers (`scripts/bench --security
SASL_SSL`): a throw-away CA and server certificate for 127.0.0.1 and
localhost, an admin user given to the broker as a SCRAM-SHA-512 verifier
(SKIFF_BOOTSTRAP_USER, never the password), the matching librdkafka client
settings (host name verified), and a timed loop of TLS + SCRAM logins on raw
sockets to measure what one handshake costs the broker."""

import base64
import datetime
import hashlib
import hmac
import ipaddress
import os
import secrets
import socket
import ssl
import struct

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISM = "SCRAM-SHA-512"
ITERATIONS = 4096
USER = "bench"


def write_certificates(directory):
    """A CA and a server certificate signed by it (SANs 127.0.0.1,
    localhost), EC P-256. Returns (ca path, cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def build(cn, key, issuer, issuer_key, ca):
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(issuer)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "skiff bench CA")])
    ca = build("skiff bench CA", ca_key, ca_name, ca_key, True)
    leaf = build("skiff-broker", key, ca.subject, ca_key, False)
    paths = tuple(os.path.join(directory, n) for n in ("ca.pem", "server.pem", "server.key"))
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(leaf.public_bytes(serialization.Encoding.PEM))
    fd = os.open(paths[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


def verifier(user, password, mechanism=MECHANISM, iterations=ITERATIONS):
    """SKIFF_BOOTSTRAP_USER's form of a SCRAM credential (RFC 5802)."""
    h = hashlib.sha512 if mechanism == "SCRAM-SHA-512" else hashlib.sha256
    salt = os.urandom(32)
    salted = hashlib.pbkdf2_hmac(h().name, password.encode(), salt, iterations)
    stored = h(hmac.new(salted, b"Client Key", h).digest()).digest()
    server = hmac.new(salted, b"Server Key", h).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"{user}:{mechanism}:salt={b64(salt)},stored_key={b64(stored)},server_key={b64(server)}," \
           f"iterations={iterations}"


def setup(protocol, directory, bootstrap):
    """(broker environment, librdkafka client settings) for `protocol`."""
    if protocol not in PROTOCOLS:
        raise SystemExit(f"--security {protocol}: use one of {', '.join(PROTOCOLS)}")
    env = {"SKIFF_SECURITY_PROTOCOL": protocol}
    client = {"bootstrap.servers": bootstrap, "security.protocol": protocol}
    if "SSL" in protocol:
        ca, cert, key = write_certificates(directory)
        env.update({"SKIFF_TLS_CERT_FILE": cert, "SKIFF_TLS_KEY_FILE": key})
        client.update({"ssl.ca.location": ca, "ssl.endpoint.identification.algorithm": "https"})
    if protocol.startswith("SASL"):
        password = secrets.token_urlsafe(24)
        env.update({"SKIFF_SASL_ENABLED_MECHANISMS": MECHANISM, "SKIFF_BOOTSTRAP_USER": verifier(USER, password)})
        client.update({"sasl.mechanism": MECHANISM, "sasl.username": USER, "sasl.password": password})
    return env, client


def kafka_python(client):
    """The same settings as kafka-python keyword arguments."""
    out = {"bootstrap_servers": client["bootstrap.servers"],
           "security_protocol": client.get("security.protocol", "PLAINTEXT")}
    if "ssl.ca.location" in client:
        out.update({"ssl_cafile": client["ssl.ca.location"], "ssl_check_hostname": True})
    if "sasl.mechanism" in client:
        out.update({"sasl_mechanism": client["sasl.mechanism"], "sasl_plain_username": client["sasl.username"],
                    "sasl_plain_password": client["sasl.password"]})
    return out


def _request(sock, corr, api_key, version, body):
    header = struct.pack(">hhih", api_key, version, corr, 5) + b"bench"
    frame = header + body
    sock.sendall(struct.pack(">i", len(frame)) + frame)
    size = struct.unpack(">i", _exact(sock, 4))[0]
    return _exact(sock, size)[4:]


def _exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise SystemExit("the broker closed the connection during a benchmark login")
        buf += chunk
    return buf


def _authenticate(sock, corr, token):
    resp = _request(sock, corr, 36, 1, struct.pack(">i", len(token)) + token)
    err, ml = struct.unpack(">hh", resp[:4])
    if err:
        raise SystemExit(f"benchmark login refused: error {err}")
    pos = 4 + max(ml, 0)
    (bl,) = struct.unpack(">i", resp[pos:pos + 4])
    return resp[pos + 4:pos + 4 + bl]


def login(client):
    """One connection: TLS handshake (verifying the CA and host name), then
    SaslHandshake and a SCRAM-SHA-512 exchange, then close."""
    host, port = client["bootstrap.servers"].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=client["ssl.ca.location"])
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as sock:
        mech = MECHANISM.encode()
        resp = _request(sock, 1, 17, 1, struct.pack(">h", len(mech)) + mech)
        if struct.unpack(">h", resp[:2])[0]:
            raise SystemExit("SaslHandshake refused")
        user, password = client["sasl.username"], client["sasl.password"]
        nonce = base64.b64encode(os.urandom(18)).decode()
        bare = f"n={user},r={nonce}"
        first = _authenticate(sock, 2, f"n,,{bare}".encode()).decode()
        attrs = dict(kv.split("=", 1) for kv in first.split(","))
        h = hashlib.sha512
        salted = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", h).digest()
        final = f"c=biws,r={attrs['r']}"
        signature = hmac.new(h(client_key).digest(), f"{bare},{first},{final}".encode(), h).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
        _authenticate(sock, 3, f"{final},p={proof}".encode())
