package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// WriteLayout writes img as the only image of a fresh OCI image layout at
// dir, tagged tag (the org.opencontainers.image.ref.name annotation of its
// index entry). An existing layout at dir is replaced; an existing
// directory that is not an OCI layout is refused rather than deleted.
func WriteLayout(dir string, img v1.Image, tag string) error {
	if err := clearLayoutDir(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("oci: creating the layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{AnnotationRefName: tag})); err != nil {
		return fmt.Errorf("oci: writing the image into %s: %w", dir, err)
	}
	return nil
}

// clearLayoutDir removes dir if it holds an OCI layout (an oci-layout file)
// and refuses any other non-empty directory.
func clearLayoutDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("oci: reading %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return fmt.Errorf("oci: %s exists and is not an OCI layout (no oci-layout file); refusing to replace it", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("oci: removing the old layout %s: %w", dir, err)
	}
	return nil
}

// ReadLayout returns the single image of the OCI layout at dir and its tag.
func ReadLayout(dir string) (v1.Image, string, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, "", fmt.Errorf("oci: %s is not an OCI layout (run `make image` first): %w", dir, err)
	}
	index, err := p.ImageIndex()
	if err != nil {
		return nil, "", fmt.Errorf("oci: reading the index of %s: %w", dir, err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return nil, "", fmt.Errorf("oci: reading the index of %s: %w", dir, err)
	}
	if len(manifest.Manifests) != 1 {
		return nil, "", fmt.Errorf("oci: the layout %s holds %d manifests, want exactly 1", dir, len(manifest.Manifests))
	}
	desc := manifest.Manifests[0]
	img, err := p.Image(desc.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("oci: reading image %s from %s: %w", desc.Digest, dir, err)
	}
	return img, desc.Annotations[AnnotationRefName], nil
}
