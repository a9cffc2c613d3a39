// ImzagateClient: a portal's login with Asan İmza through the imzagate
// portal API (docs/api.md), in plain Java 17 without dependencies.
//
//   IMZAGATE_URL=http://127.0.0.1:8080 IMZAGATE_API_KEY=… \
//     java ImzagateClient.java +994501000000 437234
//
// It starts a login (POST /v1/authentications) with the SHA-256 of a fresh
// random challenge, shows the verification code (the portal shows it to
// the user, who checks that the phone shows the same), long-polls the
// session (GET /v1/sessions/{id}?timeoutMs=…) until it is COMPLETE, and
// verifies the signature over the hash against the certificate returned
// (ECDSA signs the hash as the digest, Ed25519 and ML-DSA sign it as the
// message). The gateway has verified it already; a portal that keeps the
// signature as evidence checks it once more, as here.
//
// The API key belongs on the portal's server, never in a browser. JSON is
// read with a few lines of string handling to stay dependency-free: a real
// portal uses its JSON library (Jackson, Gson).
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;

public final class ImzagateClient {
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final String baseUrl;
    private final String apiKey;

    public ImzagateClient(String baseUrl, String apiKey) {
        this.baseUrl = baseUrl.replaceAll("/+$", "");
        this.apiKey = apiKey;
    }

    /** A started session: its id, the code to show, when it expires. */
    public record Started(String sessionId, String verificationCode, String expiresAt) {}

    /** An API error (RFC 9457 problem+json) with its stable code. */
    public static final class ApiException extends Exception {
        private static final long serialVersionUID = 1L;
        public final int status;
        public final String code;

        ApiException(int status, String code, String detail) {
            super(code + ": " + detail);
            this.status = status;
            this.code = code;
        }
    }

    /** Starts a login for the user; hash is the SHA-256 of the portal's challenge. */
    public Started startLogin(String phone, String userId, byte[] hash) throws Exception {
        String body = "{\"phoneNumber\":\"" + phone + "\",\"userId\":\"" + userId + "\",\"hash\":\""
                + Base64.getEncoder().encodeToString(hash) + "\",\"hashType\":\"SHA256\",\"displayText\":\"Log in\"}";
        HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create(baseUrl + "/v1/authentications"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)));
        if (r.statusCode() != 201) {
            throw new ApiException(r.statusCode(), field(r.body(), null, "code"), field(r.body(), null, "detail"));
        }
        return new Started(field(r.body(), null, "sessionId"), field(r.body(), null, "verificationCode"),
                field(r.body(), null, "expiresAt"));
    }

    /** Long-polls the session until it is COMPLETE or max has passed; returns its JSON. */
    public String waitForResult(String sessionId, Duration max) throws Exception {
        Instant deadline = Instant.now().plus(max);
        while (Instant.now().isBefore(deadline)) {
            HttpResponse<String> r = send(HttpRequest.newBuilder(
                    URI.create(baseUrl + "/v1/sessions/" + sessionId + "?timeoutMs=25000")).GET());
            if (r.statusCode() != 200) {
                throw new ApiException(r.statusCode(), field(r.body(), null, "code"), field(r.body(), null, "detail"));
            }
            if ("COMPLETE".equals(field(r.body(), null, "state"))) {
                return r.body();
            }
        }
        throw new ApiException(0, "TIMEOUT", "the session did not complete within " + max);
    }

    private HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
        return http.send(b.header("Authorization", "Bearer " + apiKey).timeout(Duration.ofSeconds(40)).build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    /** Verifies the session's signature over hash against its certificate. */
    public static boolean verify(String session, byte[] hash) throws Exception {
        String alg = field(session, "signature", "algorithm");
        byte[] sig = Base64.getDecoder().decode(field(session, "signature", "value"));
        X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(field(session, "certificate", "pem").getBytes(StandardCharsets.US_ASCII)));
        Signature v;
        byte[] toVerify = sig;
        switch (alg) {
            case "ECDSA_P256" -> {
                v = Signature.getInstance("NONEwithECDSA"); // the hash is the digest
                toVerify = derSignature(sig);
            }
            case "ED25519" -> v = Signature.getInstance("Ed25519"); // the hash is the message
            default -> throw new IllegalStateException(alg + " needs a newer JDK (ML-DSA: Java 24+)");
        }
        v.initVerify(cert.getPublicKey());
        v.update(hash);
        return v.verify(toVerify);
    }

    /** Turns the API's r‖s (32 octets each) into the DER form Java verifies. */
    static byte[] derSignature(byte[] rs) {
        byte[] r = new BigInteger(1, Arrays.copyOfRange(rs, 0, 32)).toByteArray();
        byte[] s = new BigInteger(1, Arrays.copyOfRange(rs, 32, 64)).toByteArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x30);
        out.write(4 + r.length + s.length);
        out.write(0x02);
        out.write(r.length);
        out.writeBytes(r);
        out.write(0x02);
        out.write(s.length);
        out.writeBytes(s);
        return out.toByteArray();
    }

    /**
     * Reads a string field of the JSON, inside the object named parent when
     * one is given ("certificate" → its "pem"). Enough for this example.
     */
    static String field(String json, String parent, String name) {
        int from = 0;
        if (parent != null) {
            from = json.indexOf("\"" + parent + "\":{");
            if (from < 0) {
                return "";
            }
        }
        int i = json.indexOf("\"" + name + "\":\"", from);
        if (i < 0) {
            return "";
        }
        StringBuilder b = new StringBuilder();
        for (int k = i + name.length() + 4; k < json.length(); k++) {
            char c = json.charAt(k);
            if (c == '"') {
                break;
            }
            if (c == '\\') {
                char e = json.charAt(++k);
                switch (e) {
                    case 'n' -> b.append('\n');
                    case 't' -> b.append('\t');
                    case 'r' -> b.append('\r');
                    case 'u' -> { b.append((char) Integer.parseInt(json.substring(k + 1, k + 5), 16)); k += 4; }
                    default -> b.append(e);
                }
                continue;
            }
            b.append(c);
        }
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: IMZAGATE_URL=… IMZAGATE_API_KEY=… java ImzagateClient.java PHONE USER_ID");
            System.exit(2);
        }
        String url = System.getenv().getOrDefault("IMZAGATE_URL", "http://127.0.0.1:8080");
        ImzagateClient client = new ImzagateClient(url, System.getenv("IMZAGATE_API_KEY"));
        byte[] challenge = new byte[32];
        new SecureRandom().nextBytes(challenge);
        byte[] hash = MessageDigest.getInstance("SHA-256").digest(challenge);
        try {
            Started s = client.startLogin(args[0], args[1], hash);
            System.out.println("verification code " + s.verificationCode() + " (show it to the user); expires " + s.expiresAt());
            String session = client.waitForResult(s.sessionId(), Duration.ofMinutes(3));
            String result = field(session, null, "result");
            System.out.println("result " + result);
            if (!"OK".equals(result)) {
                System.exit(1);
            }
            boolean ok = verify(session, hash);
            System.out.println((ok ? "signature verified: " : "signature INVALID: ") + field(session, "signature", "algorithm")
                    + ", certificate " + field(session, "certificate", "subject"));
            System.exit(ok ? 0 : 1);
        } catch (ApiException e) {
            System.out.println("refused: " + e.status + " " + e.getMessage());
            System.exit(1);
        }
    }
}
