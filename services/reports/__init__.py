"""Management reports: the ROI report (deflection, automations, MTTR, hours and money saved)."""

from services.reports.roi import (
    GeneratedArticlesUsage,
    RoiAssumptions,
    RoiBreakdownRow,
    RoiMetrics,
    RoiReport,
    UnansweredQuestion,
    build_roi_report,
    to_csv,
)

__all__ = [
    "GeneratedArticlesUsage",
    "RoiAssumptions",
    "RoiBreakdownRow",
    "RoiMetrics",
    "RoiReport",
    "UnansweredQuestion",
    "build_roi_report",
    "to_csv",
]
