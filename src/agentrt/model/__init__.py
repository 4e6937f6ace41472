"""Models: the OpenAI-compatible client over both wires, the factory from provider config, the text
tool protocol, local llama.cpp models, the simulator and the in-process scripted model."""
