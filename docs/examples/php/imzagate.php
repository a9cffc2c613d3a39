<?php
// imzagate.php: a portal's login with Asan İmza through the imzagate
// portal API (docs/api.md), in plain PHP 8 with the curl extension.
//
//   IMZAGATE_URL=http://127.0.0.1:8080 IMZAGATE_API_KEY=… php imzagate.php +994501000000 437234
//
// It starts a login (POST /v1/authentications) with the SHA-256 of a fresh
// random challenge, shows the verification code (the portal shows it to
// the user, who checks that the phone shows the same), then long-polls the
// session (GET /v1/sessions/{id}?timeoutMs=…) until it is COMPLETE. The
// gateway has verified the signature against the user's certificate before
// it reports OK; a portal that keeps the signature as evidence verifies it
// again with a library that takes a precomputed hash (the hash is the
// ECDSA digest; Ed25519 and ML-DSA sign it as the message).
//
// The API key belongs on the portal's server, never in a browser.

declare(strict_types=1);

final class ImzagateException extends RuntimeException
{
    public function __construct(public readonly int $status, public readonly string $problemCode, string $detail)
    {
        parent::__construct("$problemCode: $detail");
    }
}

final class ImzagateClient
{
    public function __construct(private string $baseUrl, private string $apiKey)
    {
        $this->baseUrl = rtrim($baseUrl, '/');
    }

    /** Starts a login; $hash is the raw SHA-256 of the portal's challenge. */
    public function startLogin(string $phone, string $userId, string $hash): array
    {
        return $this->call('POST', '/v1/authentications', [
            'phoneNumber' => $phone,
            'userId' => $userId,
            'hash' => base64_encode($hash),
            'hashType' => 'SHA256',
            'displayText' => 'Log in',
        ], 201);
    }

    /** Long-polls the session until it is COMPLETE or $maxSeconds have passed. */
    public function waitForResult(string $sessionId, int $maxSeconds = 180): array
    {
        $deadline = time() + $maxSeconds;
        while (time() < $deadline) {
            $session = $this->call('GET', '/v1/sessions/' . rawurlencode($sessionId) . '?timeoutMs=25000', null, 200);
            if ($session['state'] === 'COMPLETE') {
                return $session;
            }
        }
        throw new ImzagateException(0, 'TIMEOUT', "the session did not complete within {$maxSeconds} s");
    }

    private function call(string $method, string $path, ?array $body, int $want): array
    {
        $ch = curl_init($this->baseUrl . $path);
        $headers = ['Authorization: Bearer ' . $this->apiKey];
        if ($body !== null) {
            $headers[] = 'Content-Type: application/json';
            curl_setopt($ch, CURLOPT_POSTFIELDS, json_encode($body, JSON_THROW_ON_ERROR));
        }
        curl_setopt_array($ch, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_CONNECTTIMEOUT => 10,
            CURLOPT_TIMEOUT => 40,
        ]);
        $raw = curl_exec($ch);
        $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        $error = curl_error($ch);
        curl_close($ch);
        if ($raw === false) {
            throw new ImzagateException(0, 'UNREACHABLE', $error);
        }
        $data = json_decode($raw, true) ?? [];
        if ($status !== $want) {
            throw new ImzagateException($status, $data['code'] ?? (string) $status, $data['detail'] ?? '');
        }
        return $data;
    }
}

if (PHP_SAPI === 'cli' && realpath($argv[0]) === __FILE__) {
    if ($argc !== 3) {
        fwrite(STDERR, "usage: IMZAGATE_URL=… IMZAGATE_API_KEY=… php imzagate.php PHONE USER_ID\n");
        exit(2);
    }
    $client = new ImzagateClient(getenv('IMZAGATE_URL') ?: 'http://127.0.0.1:8080', (string) getenv('IMZAGATE_API_KEY'));
    $hash = hash('sha256', random_bytes(32), true);
    try {
        $started = $client->startLogin($argv[1], $argv[2], $hash);
        echo "verification code {$started['verificationCode']} (show it to the user); expires {$started['expiresAt']}\n";
        $session = $client->waitForResult($started['sessionId']);
        echo "result {$session['result']}\n";
        if ($session['result'] !== 'OK') {
            exit(1);
        }
        echo "signed by {$session['certificate']['subject']} ({$session['signature']['algorithm']})\n";
    } catch (ImzagateException $e) {
        echo "refused: {$e->status} {$e->getMessage()}\n";
        exit(1);
    }
}
