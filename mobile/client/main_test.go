package client

import (
	"testing"

	"github.com/iswitchroofs/fieldsync/storage/blob/miniotest"
)

// TestMain stops the MinIO server the photo tests share.
func TestMain(m *testing.M) { miniotest.Main(m) }
