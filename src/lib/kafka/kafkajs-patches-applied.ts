/** Imported for its effect, first, by an entry point that loads kafkajs after it (a worker thread). */
import {applyKafkajsPatches, quietKafkajsTimerWarning} from './kafkajs-patches.js'

applyKafkajsPatches()
quietKafkajsTimerWarning()
