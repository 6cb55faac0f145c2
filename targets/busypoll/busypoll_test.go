package busypoll

import (
	"testing"

	"serverlab/targets/nonblock/nbtest"
)

func TestMain(m *testing.M) { nbtest.Main(m, Model) }

func TestServes(t *testing.T) { nbtest.Suite(t) }
