"""Small networks shared by the training tests (test_train, test_precision): one conv, batch norm and a linear
head, seeded, so two calls with one seed give the same initial weights."""
import torch
from torch import nn


def small_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                         nn.Flatten(), nn.Linear(128, 10))
