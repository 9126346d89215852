//go:build nobgp

package main

import (
	"errors"
	"log/slog"

	"github.com/nat64br/nat64br/config"
)

// bgpBuilt says whether this binary has the BGP speaker: not with the
// nobgp build tag, which leaves GoBGP out for small targets.
const bgpBuilt = false

// errNoBGP refuses a bgp section in a binary built without the speaker.
var errNoBGP = errors.New("bgp: this nat64br is built without the BGP speaker (build tag nobgp): remove the bgp section, or use a build with it")

func newSpeaker(*slog.Logger, *config.Config) (speaker, error) { return nil, errNoBGP }
