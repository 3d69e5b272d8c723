"""exitwise training and export code (see README.md here). Torch-free modules: bundle (packs,
reference outputs, preprocessing, the ONNX-chain runner), rules (the runtime's exit rules,
checked against golden vectors), cli (the exitwise CLI), onnxcheck and parts (what the exporter
refuses), verify, oppoints. The others need PyTorch."""
