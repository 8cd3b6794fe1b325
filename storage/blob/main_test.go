package blob_test

import (
	"testing"

	"github.com/iswitchroofs/fieldsync/storage/blob/miniotest"
)

// TestMain shares one MinIO server among the package's tests.
func TestMain(m *testing.M) { miniotest.Main(m) }
