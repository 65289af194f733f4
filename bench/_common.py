"""Helpers shared by the benchmarks: the machine line every benchmark prints."""

from __future__ import annotations


def machine_line(threads: int) -> str:
    """CPU name, its vector features and the thread count: which machine a number is from."""
    from search_spaces.targets import host_cpu

    cpu = host_cpu()
    return (
        f"CPU: {cpu['name']} ({cpu['arch']}, {cpu['cores']} cores); vector features: "
        f"{' '.join(cpu['features']) or 'none reported'}; threads: {threads}"
    )
