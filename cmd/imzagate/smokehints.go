package main

// problemHint says what usually causes a refused start (README,
// "Troubleshooting").
func problemHint(code string) string {
	switch code {
	case "UNAUTHORIZED":
		return "The API key is refused: IMZAGATE_API_KEY must be the key whose SHA-256 is a portal's apiKeySHA256 in the gateway's configuration (computed with printf %s, not echo)."
	case "USER_UNKNOWN":
		return "Unknown phone or wrong User ID: is the subscriber provisioned (imzagate provision --config, with the gateway's own pepper)?"
	case "USER_LOCKED":
		return "Too many wrong User IDs for this phone: wait for the Retry-After time."
	case "OPERATOR_UNAVAILABLE":
		return "No SMPP bind of the phone's operator is up, or no operator's prefixes match the number: check /readyz on the admin address and operators[].prefixes."
	case "STORE_UNAVAILABLE":
		return "The gateway cannot reach Redis: check redis.addrs and that Redis runs."
	case "OUTSTANDING_TRANSACTION":
		return "Another session is running for this phone: wait for it to end (at most the user timeout plus the delivery grace)."
	case "OPERATION_NOT_ALLOWED":
		return "This portal's operations do not include this one (portals[].operations)."
	case "CERTIFICATE_NOT_FOUND", "CERTIFICATE_EXPIRED", "CERTIFICATE_REVOKED":
		return "Choose another certificate with --cert (personal, business:VÖEN, government:VÖEN)."
	case "RATE_LIMITED":
		return "The portal's rate limit is exceeded (portals[].rateLimit): try again in a moment."
	}
	return ""
}

// resultHint says what a final result other than OK usually means.
func resultHint(result string) string {
	switch result {
	case "TIMEOUT":
		return "no answer from the phone in time. With the simulated operator: is smscsim running with --sims and the gateway's master keys, and is this number one of its cards? A card scripted not to answer (every tenth) also ends so."
	case "USER_CANCELLED":
		return "the user pressed cancel on the phone"
	case "PIN_BLOCKED":
		return "the PIN is blocked after wrong entries: the user must unblock it with the PUK"
	case "CARD_BLOCKED":
		return "the PUK is blocked too: the user needs a new SIM"
	case "NO_KEY":
		return "the SIM has no key for this certificate"
	case "DELIVERY_ERROR":
		return "the operator could not deliver the SMS to the phone"
	case "PHONE_ABSENT":
		return "the phone was off or out of coverage until the SMS expired"
	case "SIM_ERROR":
		return "the SIM refused the command: its OTA keys do not match the gateway's master keys (smscsim --master-keys must be the gateway's masterKeysFile)"
	case "SIGNATURE_INVALID":
		return "the signature did not verify against the provisioned certificate: the provisioning file belongs to other cards"
	}
	return "see README, Troubleshooting"
}
