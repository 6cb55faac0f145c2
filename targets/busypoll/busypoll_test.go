package busypoll

import (
	"testing"

	"serverlab/internal/nbtest"
)

func TestMain(m *testing.M) { nbtest.Main(m, Model) }

func TestServes(t *testing.T) { nbtest.Suite(t) }
