package gateway

import (
	"fmt"
	"os"
)

// Pepper resolves the store's pepper as the gateway does (secrets.pepperFile,
// else secrets.pepperEnv, default IMZAGATE_PEPPER) and checks its length,
// so that `imzagate provision --config` hashes User IDs with exactly the
// gateway's pepper.
func (c *Config) Pepper(env Env) ([]byte, error) {
	if env == nil {
		env = os.LookupEnv
	}
	name := c.Secrets.PepperEnv
	if name == "" {
		name = "IMZAGATE_PEPPER"
	}
	pepper, err := env.resolve("pepper", name, c.Secrets.PepperFile)
	if err != nil {
		return nil, err
	}
	if err := CheckPepper([]byte(pepper)); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return []byte(pepper), nil
}
