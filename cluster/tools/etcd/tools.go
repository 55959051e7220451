//go:build tools

// Package tools records the etcd server command built by cluster/build.sh so that `go mod tidy` keeps its
// dependencies in go.sum.
package tools

import _ "go.etcd.io/etcd/server/v3"
