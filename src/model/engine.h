/* The engine behind include/ladder.h, seen from inside the project (internal
 * header). Libraries that legitimately work below the public boundary (the
 * benchmark's raw linear rates, conformance) reach the loaded model and a
 * session's timeline through these accessors instead of the struct layout. */
#ifndef LADDER_MODEL_ENGINE_H
#define LADDER_MODEL_ENGINE_H

#include "ladder.h"
#include "model/session.h"

/* The engine's model; it stays owned by the engine. */
const ld_model *ld_engine_model(const ladder_engine *e);
/* The session's internal timeline (valid until ladder_session_free). */
ld_session *ld_engine_session(ladder_session *s);

#endif
