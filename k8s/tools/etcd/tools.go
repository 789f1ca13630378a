//go:build tools

// Package tools pins the etcd server command `make cluster-tools` builds.
package tools

import _ "go.etcd.io/etcd/server/v3"
