"""Distillation: a compact student generator trained to reproduce a teacher model's output."""
