import type { ContainerConfig, History, ImageConfig } from '../oci/schemas.js';
import type { Image, Layer } from './image.js';

/** Returns a new image with `layer` appended, its diffID recorded and a history entry. */
export function appendLayer(image: Image, layer: Layer, history: History): Image {
  const config: ImageConfig = {
    ...image.config,
    rootfs: { ...image.config.rootfs, type: 'layers', diff_ids: [...image.config.rootfs.diff_ids, layer.diffId] },
    history: [...(image.config.history ?? []), history],
  };
  return { ...image, config, layers: [...image.layers, layer] };
}

/** Returns a new image whose container config is `edit(old)`, with an empty-layer history entry. */
export function editConfig(image: Image, edit: (c: ContainerConfig) => ContainerConfig, history?: History): Image {
  const config: ImageConfig = { ...image.config, config: edit({ ...(image.config.config ?? {}) }) };
  if (history) config.history = [...(image.config.history ?? []), { ...history, empty_layer: true }];
  return { ...image, config };
}

