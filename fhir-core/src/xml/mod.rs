//! XML in and out, driven by the model metadata.
