"""Broker adapters (kis, ls, kiwoom, paper) behind one interface, `base.Broker`."""
