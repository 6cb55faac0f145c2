package main

import (
	"os"
	"testing"

	"serverlab/internal/testbin"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
