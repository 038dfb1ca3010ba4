#pragma once
// qcustomplot.h for the token histogram. The header uses Qt's keyword macros (signals, slots,
// emit, foreach), which lorafa_ui turns off (QT_NO_KEYWORDS); they are defined around it only.
#if defined(QT_NO_KEYWORDS) && !defined(signals)
#define LORAFA_TOKEN_HISTOGRAM_KEYWORDS
#define signals Q_SIGNALS
#define slots Q_SLOTS
#define emit Q_EMIT
#define foreach Q_FOREACH
#endif

#include <qcustomplot.h>

#ifdef LORAFA_TOKEN_HISTOGRAM_KEYWORDS
#undef signals
#undef slots
#undef emit
#undef foreach
#undef LORAFA_TOKEN_HISTOGRAM_KEYWORDS
#endif
