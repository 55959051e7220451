/** OCI image and distribution JSON shapes, as they travel on the wire and sit in an image layout. */

export const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_INDEX = 'application/vnd.oci.image.index.v1+json';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

export interface DescriptorWire {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ManifestWire {
  schemaVersion: 2;
  mediaType: typeof MEDIA_MANIFEST;
  config: DescriptorWire;
  layers: DescriptorWire[];
  annotations?: Record<string, string>;
}

export interface ImageConfigWire {
  architecture: string;
  os: string;
  config: Record<string, unknown>;
  rootfs: { type: 'layers'; diff_ids: string[] };
}

export interface IndexWire {
  schemaVersion: 2;
  mediaType?: typeof MEDIA_INDEX;
  manifests: DescriptorWire[];
}

export interface OciLayoutWire {
  imageLayoutVersion: '1.0.0';
}

/** Token endpoint answer (Docker token auth): either field may carry the token. */
export interface TokenResponseWire {
  token?: string;
  access_token?: string;
  expires_in?: number;
}

/** Registry error body: `{"errors":[{"code":"BLOB_UNKNOWN","message":"..."}]}`. */
export interface RegistryErrorsWire {
  errors?: { code?: string; message?: string; detail?: unknown }[];
}
