export { Tensor } from './tensor';
export type { TypedArray, Dtype } from './dtypes';
export { Model, loadModel, type LoadModelOptions, type ModelInfo } from './model';
export type { Preprocessing } from './sidecar';
export { TorchVideoError } from './errors';
export { cuda } from './cuda';
export { versions } from './versions';
