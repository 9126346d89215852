module github.com/nat64br/nat64br

go 1.26.0

require (
	github.com/gopacket/gopacket v1.7.7
	gopkg.in/yaml.v3 v3.0.1
)

require (
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
