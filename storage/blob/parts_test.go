package blob_test

import (
	"testing"

	"github.com/iswitchroofs/fieldsync/storage/blob/blobtest"
)

func TestDirPartsConformance(t *testing.T) {
	blobtest.RunPartsConformance(t, func(t *testing.T) blobtest.PartsStore {
		return newDir(t, t.TempDir())
	})
}

func TestMinIOPartsConformance(t *testing.T) {
	blobtest.RunPartsConformance(t, func(t *testing.T) blobtest.PartsStore {
		return newMinIO(t, minioConfig(t, newBucketName()))
	})
}

func TestDirMultipartConformance(t *testing.T) {
	blobtest.RunMultipartConformance(t, func(t *testing.T) blobtest.MultipartStore {
		return newDir(t, t.TempDir())
	})
}

func TestMinIOMultipartConformance(t *testing.T) {
	blobtest.RunMultipartConformance(t, func(t *testing.T) blobtest.MultipartStore {
		return newMinIO(t, minioConfig(t, newBucketName()))
	})
}
