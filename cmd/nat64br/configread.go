package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/nat64br/nat64br/config"
)

// configMaxBytesEnv names the environment variable that raises (or
// lowers) the size cap of configuration files, config.DefaultMaxBytes.
// It is not a key: a key cannot bound the reading of the file that holds
// it.
const configMaxBytesEnv = "NAT64BR_CONFIG_MAX_BYTES"

// configLimits returns the bounds of reading a configuration file: the
// defaults, with the size cap from the environment if it sets one.
func configLimits() (config.ReadLimits, error) {
	var l config.ReadLimits
	if s := os.Getenv(configMaxBytesEnv); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return l, fmt.Errorf("%s=%q: a number of bytes, at least 1", configMaxBytesEnv, s)
		}
		l.MaxBytes = n
	}
	return l, nil
}

// loadConfig reads and validates the configuration file at path within
// configLimits.
func loadConfig(path string) (*config.Config, error) {
	b, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	return config.Parse(path, b)
}

// readConfigFile reads the configuration file at path within
// configLimits, as loadConfig does, without validating it.
func readConfigFile(path string) ([]byte, error) {
	l, err := configLimits()
	if err != nil {
		return nil, err
	}
	return config.ReadFile(path, l)
}
